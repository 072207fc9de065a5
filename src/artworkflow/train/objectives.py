"""Training objectives of one step, as functions of the networks and a batch. They return named
loss tensors for the loop to log, and the fakes the discriminator step needs.

Every random draw is keyed by (seed, step, global sample index), so a step gives the same result
whether its batch sits in one process or is split across several, and a resumed run continues
exactly. The encoded branch uses the even positions of a batch and the random branch the odd ones
(BicycleGAN's halves), which keeps that split identical under data parallelism."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.func import functional_call

from .. import losses as L
from ..config import LossWeights
from ..workflow import Discriminators, Workflow
from .augment import diff_augment, keyed_uniform


@dataclass
class StepContext:
    seed: int
    step: int
    sample_ids: torch.Tensor
    world_size: int = 1


def keyed_randn(ctx: StepContext, dim: int, salt: int, device: torch.device) -> torch.Tensor:
    """One standard-normal vector per sample, determined only by (seed, step, sample id, salt)."""
    rows = []
    for sid in ctx.sample_ids.tolist():
        key = (((ctx.seed * 1_000_003 + ctx.step) * 1_000_033 + sid) * 1009 + salt) % (2 ** 63)
        rows.append(torch.randn(dim, generator=torch.Generator().manual_seed(key)))
    return torch.stack(rows).to(device)


def _even(x: torch.Tensor) -> torch.Tensor:
    return x[0::2]


def _odd(x: torch.Tensor) -> torch.Tensor:
    return x[1::2]


def _interleave(even: torch.Tensor, odd: torch.Tensor) -> torch.Tensor:
    """Inverse of (_even, _odd): both halves go through the generator as one batch, which keeps
    the convolutions large enough to run efficiently."""
    out = even.new_empty((len(even) + len(odd), *even.shape[1:]))
    out[0::2], out[1::2] = even, odd
    return out


def _half(ctx: StepContext, part) -> StepContext:
    return StepContext(ctx.seed, ctx.step, part(ctx.sample_ids), ctx.world_size)


def _critic_view(x: torch.Tensor, ctx: StepContext, augment: tuple[str, ...], salt: int) -> torch.Tensor:
    """What a generation critic sees of ``x``: the image itself, or its DiffAugment with keyed draws."""
    if not augment:
        return x
    return diff_augment(x, augment, keyed_uniform(ctx.seed, ctx.step, ctx.sample_ids, salt, 7))


@torch.no_grad()
def inferred_chain(wf: Workflow, final: torch.Tensor) -> list[torch.Tensor]:
    """All stages inferred from the final artwork, with no gradient (inputs of joint phases)."""
    return wf.infer(final)


def inference_generator_loss(wf: Workflow, disc: Discriminators, stages: list[torch.Tensor],
                             joint: bool, w: LossWeights) -> tuple[dict[str, torch.Tensor], list]:
    """Hinge GAN + λ·ℓ1 for every inference net. Separate: input is the real next stage; joint: the
    input is the (detached) output of the net one stage later, starting from the real artwork."""
    out: dict[str, torch.Tensor] = {}
    pairs = []
    total = 0.0
    nxt = stages[-1]
    for i in reversed(range(len(wf.inference))):
        inp = nxt.detach() if joint else stages[i + 1]
        fake = wf.inference[i](inp)
        gan = L.hinge_g(disc.inference[i](torch.cat([inp, fake], 1)))
        l1 = L.l1(fake, stages[i])
        total = total + gan + w.inference_l1 * l1
        out[f"inf{i}/gan"], out[f"inf{i}/l1"] = gan.detach(), l1.detach()
        pairs.append((i, inp.detach(), fake.detach(), stages[i]))
        nxt = fake
    out["inf/total"] = total
    return out, pairs


def _judge(d: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Hinge loss of discriminator ``d`` on real and fake samples, judged in one batch (every layer
    acts per sample, so this equals two calls, with half the convolution calls)."""
    outs = d(torch.cat([real, fake]))
    n = len(real)
    return L.hinge_d([o[:n] for o in outs], [o[n:] for o in outs])


def inference_discriminator_loss(disc: Discriminators, pairs: list) -> dict[str, torch.Tensor]:
    total = 0.0
    out: dict[str, torch.Tensor] = {}
    for i, inp, fake, real in pairs:
        loss = _judge(disc.inference[i], torch.cat([inp, real], 1), torch.cat([inp, fake], 1))
        out[f"inf{i}/d"] = loss.detach()
        total = total + loss
    out["inf_d/total"] = total
    return out


def generation_stage_loss(wf: Workflow, disc: Discriminators, i: int, inp: torch.Tensor,
                          target: torch.Tensor, enc_src: torch.Tensor, ctx: StepContext,
                          w: LossWeights, augment: tuple[str, ...] = ()
                          ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """BicycleGAN objective + cycle consistency for generation stage i (supplement eq. 1, paper
    eq. 3). Returns the named losses and the tensors the discriminator step and the next stage use."""
    g, enc, inv = wf.generators[i], wf.encoders[i], wf.inference[i]
    nz = wf.model_config.nz
    ce, cr = _half(ctx, _even), _half(ctx, _odd)

    mu, logvar = enc(_even(enc_src))
    z_enc = mu + keyed_randn(ce, nz, 10 * i + 1, mu.device) * torch.exp(0.5 * logvar)
    z_rand = keyed_randn(cr, nz, 10 * i + 2, mu.device)
    content = g.encode_content(inp)
    fake = g.decode(content, g.adain_vector(_interleave(z_enc, z_rand)))
    fake_enc, fake_rand, content_r = _even(fake), _odd(fake), _odd(content)

    gan = (L.hinge_g(disc.encoded[i](_critic_view(fake_enc, ce, augment, 100 + 10 * i)))
           + L.hinge_g(disc.random[i](_critic_view(fake_rand, cr, augment, 101 + 10 * i))))
    l1 = L.l1(fake_enc, _even(target))
    kl = L.kl_divergence(mu, logvar) * ctx.world_size
    frozen_enc = {n: p.detach() for n, p in enc.named_parameters()}
    mu_rand, _ = functional_call(enc, frozen_enc, (fake_rand,))
    latent = L.latent_regression(mu_rand, z_rand)
    cycle = L.l1(inv(fake_rand), _odd(inp))
    total = gan + w.l1 * l1 + w.kl * kl + w.latent * latent + w.cycle * cycle
    out = {f"gen{i}/gan": gan, f"gen{i}/l1": l1, f"gen{i}/kl": kl, f"gen{i}/latent": latent,
           f"gen{i}/cycle": cycle}
    if w.mode_seeking > 0:
        z_rand2 = keyed_randn(cr, nz, 10 * i + 3, mu.device).to(mu.dtype)
        fake_rand2 = g.decode(content_r, g.adain_vector(z_rand2))
        ms = L.mode_seeking(fake_rand, fake_rand2, z_rand, z_rand2)
        total = total + w.mode_seeking * ms
        out[f"gen{i}/mode_seeking"] = ms
    out = {k: v.detach() for k, v in out.items()}
    out[f"gen{i}/total"] = total
    fakes = {"enc": fake_enc.detach(), "rand": fake_rand.detach(),
             "real_enc": _even(target), "real_rand": _odd(target)}
    return out, fakes


def generation_generator_loss(wf: Workflow, disc: Discriminators, stages: list[torch.Tensor],
                              joint: bool, ctx: StepContext, w: LossWeights, augment: tuple[str, ...] = ()):
    """All generation stages. Separate: ground-truth inputs, latents encoded from the real next
    stage. Joint (as the published code wires it): stage 0 starts from the inferred first stage,
    later stages take the previous stage's (detached) outputs, latents are encoded from the
    inferred next stage except the last, which encodes the real artwork; targets stay real."""
    n = len(wf.generators)
    inferred = inferred_chain(wf, stages[-1]) if joint else None
    out: dict[str, torch.Tensor] = {}
    all_fakes = []
    total = 0.0
    prev = None
    for i in range(n):
        if not joint:
            inp, enc_src = stages[i], stages[i + 1]
        else:
            inp = inferred[0] if i == 0 else prev
            enc_src = stages[-1] if i == n - 1 else inferred[i + 1]
        losses, fakes = generation_stage_loss(wf, disc, i, inp, stages[i + 1], enc_src, ctx, w, augment)
        out.update(losses)
        total = total + losses[f"gen{i}/total"]
        all_fakes.append(fakes)
        prev = _interleave(fakes["enc"], fakes["rand"])
    out["gen/total"] = total
    return out, all_fakes


def generation_discriminator_loss(disc: Discriminators, all_fakes: list, ctx: StepContext | None = None,
                                  augment: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Hinge loss of both critics of every stage; with ``augment``, real and fake images each get
    their own keyed DiffAugment draws (``ctx`` gives the keys)."""
    out: dict[str, torch.Tensor] = {}
    total = 0.0
    ce, cr = (_half(ctx, _even), _half(ctx, _odd)) if augment else (None, None)
    for i, f in enumerate(all_fakes):
        view = lambda x, c, salt: _critic_view(x, c, augment, salt + 10 * i)  # noqa: E731
        d_enc = _judge(disc.encoded[i], view(f["real_enc"], ce, 200), view(f["enc"], ce, 201))
        d_rand = _judge(disc.random[i], view(f["real_rand"], cr, 202), view(f["rand"], cr, 203))
        out[f"gen{i}/d_enc"], out[f"gen{i}/d_rand"] = d_enc.detach(), d_rand.detach()
        total = total + d_enc + d_rand
    out["gen_d/total"] = total
    return out


@torch.no_grad()
def validation_l1(wf: Workflow, stages: list[torch.Tensor]) -> dict[str, float]:
    """Per-stage ℓ1 of inference (G^I_i(x_{i+1}) vs x_i) and of generation with the encoded mean
    latent (G_i(x_i, E_i(x_{i+1}).mu) vs x_{i+1}) on ground-truth inputs."""
    res = {}
    for i in range(len(wf.generators)):
        res[f"inference{i}"] = L.l1(wf.inference[i](stages[i + 1]), stages[i]).item()
        mu, _ = wf.encoders[i](stages[i + 1])
        res[f"generation{i}"] = L.l1(wf.generators[i](stages[i], mu), stages[i + 1]).item()
    res["inference"] = sum(v for k, v in res.items() if k.startswith("inference")) / len(wf.generators)
    res["generation"] = sum(v for k, v in res.items() if k.startswith("generation")) / len(wf.generators)
    return res
