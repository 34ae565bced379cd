import sys

from moldiff.cli import main

sys.exit(main())
