"""hyperweights.physics: MMS sources against autograd, geometry, FD solver, batched generation,
the residual problems of the refinement, fine-tuning, training and checkpoints."""

import pytest
import torch

import hyperweights as hw
from hyperweights.physics import (HyperPINN, PDEFamily, PhysicsConfig, ResidualProblems, collocation,
                                  ensemble_values, evaluate, fit, grid_points, pinn, pinn_losses,
                                  pinn_values, random_member, refine, reptile_init, solve_fd,
                                  train_pinns)
from hyperweights.physics.encoding import PDEEncoder
from hyperweights.physics.geometry import DISK, SQUARE, boundary, inside, sample_interior
from hyperweights.physics.pde import apply_operator, derivatives


def small_model():
    return HyperPINN(grid=8, boundary_points=8, features=4, width=8, hidden=(32,), code_dim=16)


@pytest.mark.parametrize("operator", ["poisson", "helmholtz", "advection_diffusion"])
@pytest.mark.parametrize("geometry", ["square", "disk"])
def test_mms_source_and_neumann_data_match_autograd(operator, geometry):
    family = PDEFamily(operators=(operator,), geometries=(geometry,))
    problems = family.sample(4, torch.Generator().manual_seed(0), labelled=True)
    x = sample_interior(problems.geometry, 50, torch.Generator().manual_seed(1)).requires_grad_(True)
    u = problems.solution(x)
    grad, lap = derivatives(u, x)
    torch.testing.assert_close(problems.source(x), apply_operator(problems.coeffs, u, grad, lap).detach(),
                               rtol=1e-4, atol=1e-4)
    points, normals = boundary(problems.geometry, torch.rand(30))
    points.requires_grad_(True)
    grad = torch.autograd.grad(problems.solution(points).sum(), points)[0]
    torch.testing.assert_close(problems.neumann(points, normals), (grad * normals).sum(-1))


def test_operator_coefficients_follow_the_equation():
    problems = PDEFamily().sample(64, torch.Generator().manual_seed(0))
    a, b1, b2, c = problems.coeffs.unbind(-1)
    poisson, helmholtz, adv = (problems.operator == k for k in range(3))
    assert torch.all(a[poisson] == 1) and torch.all(c[poisson] == 0) and torch.all(b1[poisson] == 0)
    assert torch.all(c[helmholtz] < 0) and torch.all(b2[helmholtz] == 0)
    assert torch.all(c[adv] == 0) and torch.all((a[adv] >= 0.3) & (a[adv] <= 1))


def test_geometry_points_lie_on_and_in_their_domains():
    geometry = torch.tensor([SQUARE, DISK])
    points, normals = boundary(geometry, torch.rand(100))
    torch.testing.assert_close(normals.norm(dim=-1), torch.ones(2, 100))
    square, disk = points
    assert torch.all(((square == 0) | (square == 1)).any(-1))
    torch.testing.assert_close((disk - 0.5).norm(dim=-1), torch.full((100,), 0.5))
    assert inside(geometry, sample_interior(geometry, 200)).all()
    nodes = grid_points(9).expand(2, -1, -1)
    assert inside(geometry, nodes).sum(-1).tolist()[0] == 81


def test_finite_differences_converge_to_the_manufactured_solution():
    problems = PDEFamily(geometries=("square",)).sample(4, torch.Generator().manual_seed(3), labelled=True)
    problems.mixed[:2] = True                       # both boundary types, Neumann edge included
    errors = []
    for n in (9, 17):
        exact = problems.solution(grid_points(n).expand(4, -1, -1))
        errors.append(((solve_fd(problems, n) - exact).norm(dim=1) / exact.norm(dim=1)).max())
    assert errors[1] < 0.01 and errors[1] < errors[0] / 3      # second order: about 4x per halving


def test_generation_is_batched_and_equals_one_problem_at_a_time():
    model = small_model()
    problems = PDEFamily().sample(5, torch.Generator().manual_seed(0))
    together = model.generate(problems)
    alone = model.generate(problems.index([3]))
    for name, w in together.weights.items():
        torch.testing.assert_close(w[3:4], alone.weights[name])
    x = torch.rand(5, 7, 2)
    per_pde = pinn_values(model.target, together, x)
    manual = torch.func.functional_call(model.target, {n: w[3] for n, w in together.weights.items()}, (x[3],))
    torch.testing.assert_close(per_pde[3], together.scale[3] * manual[..., 0])


def test_residual_problem_is_solved_by_the_remaining_error():
    model = small_model()
    problems = PDEFamily().sample(3, torch.Generator().manual_seed(0), labelled=True)
    members = refine(model, problems, rounds=1)
    residual = ResidualProblems(problems, model.target, members)
    x = torch.rand(3, 20, 2, requires_grad=True)
    delta = residual.solution(x)               # u - (u_0 + u_1)
    grad, lap = derivatives(delta, x)
    torch.testing.assert_close(residual.source(x), apply_operator(problems.coeffs, delta, grad, lap).detach(),
                               rtol=1e-3, atol=1e-3)
    with torch.no_grad():
        total = ensemble_values(model.target, members, x) + delta
    torch.testing.assert_close(total, problems.solution(x))
    assert len(members) == 2


def test_losses_vanish_at_the_exact_solution_and_train_the_hypernetwork():
    problems = PDEFamily().sample(4, torch.Generator().manual_seed(0))
    points = collocation(problems, 32, 16, torch.Generator().manual_seed(0))
    exact = pinn_losses(problems.solution, problems, torch.ones(4), points)
    labelled = problems.labelled
    assert exact["residual"][labelled].max() < 1e-8 and exact["boundary"][labelled].max() < 1e-10
    model = small_model()
    member = model.generate(problems)
    losses = pinn_losses(lambda x: pinn_values(model.target, member, x), problems, member.scale, points)
    sum(v.sum() for v in losses.values()).backward()
    assert all(p.grad is not None for p in model.hypernetwork.parameters())
    assert losses["data"][~labelled].eq(0).all() and losses["data"][labelled].gt(0).all()


def test_fit_trains_reproducibly_and_checkpoints_round_trip(tmp_path):
    model = small_model()
    cfg = PhysicsConfig(steps=3, batch_size=4, interior_points=16, boundary_points=8, lr=3e-3,
                        progress=False)
    before = [p.detach().clone() for p in model.hypernetwork.parameters()]
    result = fit(model, PDEFamily(), cfg)
    assert result.steps == 3 and all(0 < v < 1e3 for v in result.losses)
    assert all(not torch.equal(a, b) for a, b in zip(before, model.hypernetwork.parameters()))
    again = fit(small_model(), PDEFamily(), cfg)             # fresh problems each step, but seeded
    assert again.losses == result.losses
    hw.save(model, tmp_path / "m.safetensors")
    again = hw.load(tmp_path / "m.safetensors")
    problems = PDEFamily().sample(2, torch.Generator().manual_seed(5), labelled=True)
    x = torch.rand(2, 9, 2)
    torch.testing.assert_close(again(x, problems), model(x, problems))
    scores = evaluate(model, problems, rounds=1, grid=9)
    assert list(scores) == ["rel_l2_round0", "rel_l2_round1"] and all(v > 0 for v in scores.values())


def test_train_pinns_fits_each_problem_and_reptile_moves_the_init():
    target = pinn(features=4, width=8)
    problems = PDEFamily(operators=("poisson",)).sample(3, torch.Generator().manual_seed(0), labelled=True)
    start = random_member(target, problems, torch.Generator().manual_seed(0))
    run = train_pinns(target, start, problems, steps=20, lr=1e-2, interior=16, boundary_points=8,
                      monitor=lambda m: 0, every=10)
    assert [s for s, _ in run.curve] == [0, 10, 20]
    assert sum(run.losses[-3:]) < sum(run.losses[:3]) / 2
    init = reptile_init(target, PDEFamily(), meta_steps=2, inner_steps=3, tasks=2, interior=16,
                        boundary_points=8)
    assert set(init) == {n for n, _ in target.named_parameters()}
    assert any(not torch.equal(init[n], p) for n, p in target.named_parameters())


@pytest.mark.parametrize("make, match", [
    (lambda: PhysicsConfig(residual_fraction=1.0).validate(), "residual_fraction"),
    (lambda: PDEFamily(operators=("wave",)).sample(2), "operators"),
    (lambda: PDEFamily(helmholtz_k=(1.0, 5.0)).sample(2), "eigenvalue"),
    (lambda: solve_fd(PDEFamily(geometries=("disk",)).sample(2), 9), "square only"),
    (lambda: PDEEncoder(8, 8)(torch.zeros(2, 10)), "expects encodings"),
    (lambda: HyperPINN(width=0), "width"),
])
def test_bad_input_is_a_clear_error(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()
