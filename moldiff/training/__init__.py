"""Lightning training: the module, callbacks and the run driver."""
