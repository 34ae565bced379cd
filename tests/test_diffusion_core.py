import pytest
import torch

from moldiff.config import SAMPLER_NAMES
from moldiff.diffusion.noise import com_free_noise, remove_mean
from moldiff.diffusion.sampler import SAMPLERS, get_sampler, sample_ddim, sample_ddpm, sample_dpm2m, time_grid
from moldiff.diffusion.schedule import CosineSchedule, PolynomialSchedule, build_schedule

SCHEDULES = [PolynomialSchedule(), PolynomialSchedule(power=1.5), CosineSchedule()]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_schedule_identities(schedule, dtype):
    t = torch.linspace(0, 1, 1001, dtype=dtype)
    a, s = schedule.alpha(t), schedule.sigma(t)
    assert a.dtype == dtype
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    assert torch.allclose(a**2 + s**2, torch.ones_like(t), atol=tol)
    snr = schedule.log_snr(t)
    assert torch.isfinite(snr).all()
    assert (snr[1:] < snr[:-1]).all(), "log-SNR must decrease strictly"
    assert torch.allclose(snr, torch.log(a**2 / s**2), atol=1e-3 if dtype == torch.float32 else 1e-9)
    assert a[0] > 0.99999 and a[-1] < 0.01  # endpoints: data at t=0, noise at t=1
    assert schedule.alpha(torch.tensor(1.5, dtype=dtype)) == schedule.alpha(torch.tensor(1.0, dtype=dtype))


def test_schedule_registry_and_errors():
    assert isinstance(build_schedule("cosine"), CosineSchedule)
    with pytest.raises(ValueError, match="unknown schedule"):
        build_schedule("linear-ish")
    with pytest.raises(ValueError):
        PolynomialSchedule(power=0)
    with pytest.raises(ValueError, match="steps"):
        time_grid(0)
    with pytest.raises(ValueError, match="unknown sampler"):
        get_sampler("euler")


def test_com_free_noise_has_zero_mean_per_graph():
    batch = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    eps = com_free_noise(batch, generator=torch.Generator().manual_seed(0))
    assert eps.shape == (9, 3)
    for g in range(3):
        assert eps[batch == g].mean(0).abs().max() < 1e-6
    x = torch.randn(9, 3)
    assert torch.allclose(remove_mean(remove_mean(x, batch), batch), remove_mean(x, batch), atol=1e-6)


# --- samplers on a toy Gaussian with the exact denoiser --------------------------------
MU = torch.tensor([1.5, -0.5, 0.0], dtype=torch.float64)
STD = torch.tensor([0.3, 1.0, 2.0], dtype=torch.float64)


def exact_eps(schedule):
    """E[eps | z_t] for data x0 ~ N(MU, diag(STD^2)), in closed form."""

    def eps_fn(z, t):
        a, s = schedule.alpha(t), schedule.sigma(t)
        return s * (z - a * MU) / (a**2 * STD**2 + s**2)

    return eps_fn


def test_time_grid_power_moves_steps_to_low_noise():
    uniform, dense = time_grid(100), time_grid(100, power=2.0)
    for grid in (uniform, dense):
        assert grid[0] == 1.0 and grid[-1] == 0.0 and (grid[1:] < grid[:-1]).all() and len(grid) == 101
    assert torch.allclose(uniform[1:] - uniform[:-1], torch.full((100,), -0.01, dtype=torch.float64))
    assert (dense < 0.1).sum() == 32 and (uniform < 0.1).sum() == 10  # u^2 < 0.1 for u < 0.316
    with pytest.raises(ValueError, match="power"):
        time_grid(10, power=0.0)


@pytest.mark.parametrize("sampler", [sample_ddpm, sample_ddim, sample_dpm2m], ids=["ddpm", "ddim", "dpm2m"])
@pytest.mark.parametrize("schedule,time_power", [(PolynomialSchedule(), 1.0), (CosineSchedule(), 1.0),
                                                 (PolynomialSchedule(), 2.0)], ids=repr)
def test_sampler_recovers_toy_gaussian(sampler, schedule, time_power):
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(20_000, 3, generator=gen, dtype=torch.float64)
    x = sampler(exact_eps(schedule), schedule, z, 200, generator=gen, time_power=time_power)
    # Monte-Carlo tolerance: 20k samples give ~0.7 % on std, ~0.015 on means of unit spread
    assert torch.allclose(x.mean(0), MU, atol=0.05)
    assert torch.allclose(x.std(0), STD, rtol=0.05)
    cov = torch.cov(x.T)
    off = cov - torch.diag(torch.diag(cov))
    assert off.abs().max() < 0.05


def test_second_order_sampler_is_more_accurate_in_few_steps():
    """On the u^2 grid the multistep correction removes most of DDPM's discretisation error
    (measured with 200k samples: 50 steps, worst relative std error 1.2 % against 6.4 %)."""
    schedule = PolynomialSchedule()
    z = torch.randn(20_000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    err = {}
    for name, sampler in (("ddpm", sample_ddpm), ("dpm2m", sample_dpm2m)):
        x = sampler(exact_eps(schedule), schedule, z, 50, generator=torch.Generator().manual_seed(1), time_power=2.0)
        err[name] = (x.std(0) / STD - 1).abs().max().item()
        assert torch.allclose(x.mean(0), MU, atol=0.05)
    assert err["dpm2m"] < 0.03 < 0.045 < err["ddpm"], err


def test_dpm2m_first_step_is_the_ddpm_step():
    schedule = PolynomialSchedule()
    z = torch.randn(500, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    a = sample_ddpm(exact_eps(schedule), schedule, z, 1, generator=torch.Generator().manual_seed(3))
    b = sample_dpm2m(exact_eps(schedule), schedule, z, 1, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(a, b, atol=1e-10)  # one step: no previous estimate, no noise
    two = [f(exact_eps(schedule), schedule, z, 2, generator=torch.Generator().manual_seed(3), noise_scale=0.5)
           for f in (sample_ddpm, sample_dpm2m)]
    assert not torch.allclose(two[0], two[1])  # the second step is corrected
    assert get_sampler("dpm2m") is sample_dpm2m
    assert tuple(SAMPLERS) == SAMPLER_NAMES  # the torch-free list the CLI offers


def test_noise_scale_shrinks_the_spread_of_ancestral_samples():
    schedule = PolynomialSchedule()
    z = torch.randn(20_000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    full = sample_ddpm(exact_eps(schedule), schedule, z, 200, generator=torch.Generator().manual_seed(1))
    cold = sample_ddpm(exact_eps(schedule), schedule, z, 200, generator=torch.Generator().manual_seed(1),
                       noise_scale=0.5)
    assert torch.allclose(full.std(0), STD, rtol=0.05)
    assert (cold.std(0) < 0.9 * full.std(0)).all()  # lower temperature: a narrower distribution
    assert torch.allclose(cold.mean(0), MU, atol=0.05)  # around the same mean


def test_samplers_are_reproducible_with_a_generator_and_call_back():
    schedule = PolynomialSchedule()
    seen = []
    z = torch.randn(100, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a = sample_ddpm(exact_eps(schedule), schedule, z, 10, generator=torch.Generator().manual_seed(5),
                    callback=lambda i, t, zt, x0: seen.append((i, float(t))))
    b = sample_ddpm(exact_eps(schedule), schedule, z, 10, generator=torch.Generator().manual_seed(5))
    c = sample_ddpm(exact_eps(schedule), schedule, z, 10, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert [i for i, _ in seen] == list(range(10)) and seen[0][1] == 1.0
    d1 = sample_ddim(exact_eps(schedule), schedule, z, 10)
    assert torch.equal(d1, sample_ddim(exact_eps(schedule), schedule, z, 10))
