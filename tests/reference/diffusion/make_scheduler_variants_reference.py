#!/usr/bin/env python3
"""Reference vectors for diffmem's scheduler variants (prediction types, learned variance, dynamic
thresholding, zero terminal SNR), computed with diffusers' own DDPMScheduler / DDIMScheduler.

Run from the repository root with the Python that has torch and diffusers:
    python3 tests/reference/diffusion/make_scheduler_variants_reference.py
Writes scheduler_variants_reference.json beside this script (a few hundred KB). Tensors are stored as
in make_scheduler_reference.py: {"shape": [...], "data": [flat float32 values as decimal]}; the
decimal strings round-trip float32 exactly (checked at the end of this script, which also re-runs
every recorded step from the JSON inputs and demands bitwise-equal outputs).

Top-level keys: "generator", "ddpm_prediction", "ddpm_learned_range", "ddpm_thresholding",
"ddim_prediction", "ddim_thresholding", "zero_snr", "pipelines".

Every step case (a list entry of the ddpm_* / ddim_* keys, and zero_snr[...]["ddpm_steps" /
"ddim_steps"]) holds:
  scheduler            "DDPMScheduler" or "DDIMScheduler"
  config               scheduler.config minus private "_..." keys (everything needed to rebuild it)
  num_inference_steps  the set_timesteps() argument (0 = set_timesteps never called: DDPM uses all
                       1000 training steps and prev_t = t - 1)
  timestep, prev_timestep  (DDPM: prev_t = the next entry of the set_timesteps schedule, -1 after the
                       last; DDIM: t - num_train_timesteps // num_inference_steps, may be negative)
  model_output, sample, prev_sample, pred_original_sample
  DDPM only:  generator_seed, and noise (only when t > 0, the only case that draws it): diffusers
              draws the variance noise as randn_tensor(sample.shape, generator=torch.Generator()
              .manual_seed(generator_seed)); "noise" is exactly that tensor (the C++ test feeds it back).
  DDIM only:  eta, and noise (only when eta > 0) = the variance_noise passed explicitly to step.
  thresholding cases also: x0_unthresholded (predicted x0 before thresholding) and threshold_s
              (the per-image s of _threshold_sample, shape [batch]).

Formulas (diffusers 0.42, scheduling_ddpm.py / scheduling_ddim.py; all float32 torch ops):
  a_t = alphas_cumprod[t]; a_prev = alphas_cumprod[prev_t] if prev_t >= 0 else (DDPM: 1.0;
  DDIM: 1.0 if set_alpha_to_one else alphas_cumprod[0]); b_t = 1 - a_t.
  pred x0: epsilon: (x - b_t**0.5 * m) / a_t**0.5; sample: m; v_prediction: a_t**0.5*x - b_t**0.5*m.
  DDIM pred eps: epsilon: m; sample: (x - a_t**0.5*x0) / b_t**0.5; v_prediction: a_t**0.5*m + b_t**0.5*x
  (computed from the unclipped x0; use_clipped_model_output is False).
  Then x0 = _threshold_sample(x0) if thresholding, else clamp(x0, -clip_sample_range, +range) if
  clip_sample; pred_original_sample is this processed x0, and everything below uses it.
  DDIM: var = (1 - a_prev) / b_t * (1 - a_t / a_prev); std = eta * var**0.5;
  prev = a_prev**0.5 * x0 + (1 - a_prev - std**2)**0.5 * eps [+ std * noise if eta > 0], all float32
  scalars in exactly this order: at zero-SNR t = 999 with eta = 1, 1 - a_prev - std**2 evaluates to
  5.96e-8 (not 0) for scaled_linear, so the direction term is 2.44e-4 * eps, not 0 (in float64 it
  would vanish) - square std, do not substitute var.

  DDPM learned variances: when model_output.shape[1] == 2 * sample.shape[1] and variance_type is
  "learned" or "learned_range", model_output is split along channels: first half = the prediction
  (eps / v / x0), second half = predicted_variance (pv). The noise is drawn with the split shape.
    alpha_t = a_t / a_prev, beta_t = 1 - alpha_t
    var = clamp((1 - a_prev) / (1 - a_t) * beta_t, min=1e-20)               (fixed_small)
    learned_range: log_var = frac * log(beta_t) + (1 - frac) * log(var), frac = (pv + 1) / 2;
                   prev = mean + exp(0.5 * log_var) * noise
    learned:       prev = mean + pv ** 0.5 * noise  (pv is the variance itself, not its log; the
                   cases here use pv > 0 - a negative pv gives NaN in diffusers)
    fixed_large:   prev = mean + beta_t ** 0.5 * noise; fixed_small: mean + var ** 0.5 * noise
    mean = (a_prev**0.5 * beta_t / b_t) * x0 + (alpha_t**0.5 * (1 - a_prev) / b_t) * x;
    no noise at t == 0.
  "ddpm_learned_range" cases: model_output [2,2,4,4]; channel 0 = seeded eps, channel 1 = pv:
    learned_range: pv = tanh(randn) (in (-1, 1)); learned: pv = 0.002 + 0.02 * |randn|.

Dynamic thresholding, DDPMScheduler._threshold_sample (DDIM's is a verbatim copy):
  1. dtype = x0.dtype; if it is neither float32 nor float64, x0 is upcast to float32 (float32 data,
     as here, is used as is - no float64 upcast).
  2. x0 is reshaped to [batch, C*H*W] (per image, all channels together); a = |x0|.
  3. s = torch.quantile(a, dynamic_thresholding_ratio, dim=1) (linear interpolation). Measured
     bit-exact rule for float32 input in this torch (2.15): sort each row ascending (n values);
     rank = (double)(float)ratio * (double)(n - 1); lo = floor(rank), hi = ceil(rank);
     w = (float)(rank - lo); d = sorted[hi] - sorted[lo] (float32);
     s = w < 0.5 ? fmaf(w, d, sorted[lo]) : fmaf(w - 1, d, sorted[hi])   (single rounding)
  4. s = clamp(s, min=1, max=sample_max_value)   (min first; s >= 1 means plain [-1,1] clipping)
  5. x0 = clamp(x0, -s, s) / s   (s broadcast per image), reshape back to [B,C,H,W], cast to dtype.
  Thresholding replaces clip_sample (clip is skipped when thresholding is True).
  "ddpm_thresholding"/"ddim_thresholding" use sample scale 3.0 so that s lands above 1.

Zero terminal SNR (rescale_betas_zero_snr=True, rescale_zero_terminal_snr, float32 torch ops):
  ab = cumprod(1 - betas) (torch CPU cumprod accumulates in double and rounds every output to float32);
  r = sqrt(ab); r0 = r[0]; rT = r[-1]; r = (r - rT) * (r0 / (r0 - rT)); ab = r**2;
  alphas = cat([ab[0]], ab[1:] / ab[:-1]); betas = 1 - alphas; then alphas_cumprod = cumprod(1 - betas).
  betas[999] == 1 and alphas_cumprod[999] == 0 EXACTLY in DDPMScheduler and DDIMScheduler: the
  `alphas_cumprod[-1] = 2**-24` patch exists only in Euler / EulerAncestral / DPMSolverMultistep /
  UniPC schedulers, not in DDPM/DDIM. At t = 999 only v_prediction (and sample) are finite:
  x0 = -m, DDIM pred eps = x; epsilon prediction divides by a_t**0.5 = 0 (inf/nan; not recorded).
  zero_snr entries, one per beta_schedule ("scaled_linear" 0.00085..0.012, "linear" 1e-4..0.02):
  {"beta_schedule", "ddpm_config", "ddim_config" (the bare rescale_betas_zero_snr=True schedulers),
  "betas" [1000], "alphas_cumprod" [1000] (bitwise the same in DDPMScheduler and DDIMScheduler,
  asserted), "ddpm_steps", "ddim_steps": step cases as above}. ddim_steps: trailing, v_prediction,
  set_alpha_to_one False, clip False, 50 steps, eta 0 and 1, t = 999, 499, 19. ddpm_steps:
  trailing, v_prediction, clip False, fixed_small: 50 steps t = 999, 499, 19 and all 1000 steps
  t = 999, 998, 0.

Pipelines ("pipelines"): the loop of DDPMPipeline / DDIMPipeline: image = randn_tensor([3,1,4,4],
  generator=[Generator().manual_seed(s) for s in seeds]) (one generator per image), set_timesteps(10),
  for t in timesteps: image = step(model(image, t), t, image, generator=gens[, eta]).prev_sample;
  then uint8_nhwc = round(clamp(image / 2 + 0.5, 0, 1) (NHWC) * 255) as in numpy_to_pil.
  The fake model: fake_eps(x, t) = x * 0.9 - (float(t) / 1000) * 0.1 (float32, t broadcast per image);
  for the learned_range pipeline it returns cat([fake_eps(x, t), 0.3 * tanh(x)], dim=1) ([3,2,4,4]).
  Entry fields: name, scheduler, config, steps, eta, seeds, timesteps, final, uint8_nhwc. Runs:
    ddpm_v_prediction                DDPM prediction_type v_prediction (fixed_small, clip, leading)
    ddpm_learned_range               DDPM variance_type learned_range, the 2-channel fake model
    ddim_v_prediction_trailing_eta0  DDIM v_prediction, trailing, eta 0
    ddim_v_prediction_trailing_eta1  DDIM v_prediction, trailing, eta 1 (noise from the generators)
    ddpm_thresholding                DDPM thresholding, ratio 0.995, sample_max_value 1.5, clip off
    ddpm_zero_snr_trailing_v         DDPM rescale_betas_zero_snr, trailing (t = 999 first), v_prediction
"""
import json
import os

import numpy as np
import torch
import diffusers
from diffusers import DDIMScheduler, DDPMScheduler
from diffusers.utils.torch_utils import randn_tensor

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "scheduler_variants_reference.json")
SHAPE = (2, 1, 4, 4)
SCALED = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)


def f32(v):
    return float(str(np.float32(v)))


def tensor_json(t):
    a = t.detach().cpu().contiguous()
    if a.dtype in (torch.uint8, torch.int64):
        data = [int(v) for v in a.flatten().tolist()]
    else:
        a = a.to(torch.float32).numpy()
        data = [f32(v) for v in a.flatten()]
    return {"shape": list(t.shape), "data": data}


def from_json(j):
    return torch.tensor(np.array(j["data"], dtype=np.float32).reshape(j["shape"]))


def seeded(shape, seed, scale=1.0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * scale


def config_of(s):
    return {k: v for k, v in dict(s.config).items() if not k.startswith("_")}


def make(cls, config, steps):
    s = cls(**config)
    if steps:
        s.set_timesteps(steps)
    return s


def threshold_info(s, x0):
    """x0 before thresholding and the per-image s, the way _threshold_sample computes it."""
    flat = x0.reshape(x0.shape[0], -1).abs()
    q = torch.quantile(flat, s.config.dynamic_thresholding_ratio, dim=1)
    return torch.clamp(q, min=1, max=s.config.sample_max_value)


def unthresholded_x0(cls, config, steps, model_output, t, sample):
    cfg = dict(config, thresholding=False, clip_sample=False)
    s = make(cls, cfg, steps)
    if cls is DDPMScheduler:
        return s.step(model_output, t, sample, generator=torch.Generator().manual_seed(0)).pred_original_sample
    return s.step(model_output, t, sample, eta=0.0).pred_original_sample


def ddpm_case(config, steps, t, model_output, sample, gen_seed):
    s = make(DDPMScheduler, config, steps)
    noise = randn_tensor(sample.shape, generator=torch.Generator().manual_seed(gen_seed))
    res = s.step(model_output, t, sample, generator=torch.Generator().manual_seed(gen_seed))
    case = {"scheduler": "DDPMScheduler", "config": config_of(s),
            "num_inference_steps": steps or 0,
            "timestep": t, "prev_timestep": int(s.previous_timestep(t)),
            "generator_seed": gen_seed,
            "model_output": tensor_json(model_output), "sample": tensor_json(sample),
            "prev_sample": tensor_json(res.prev_sample),
            "pred_original_sample": tensor_json(res.pred_original_sample)}
    if t > 0:
        case["noise"] = tensor_json(noise)
    if s.config.thresholding:
        x0 = unthresholded_x0(DDPMScheduler, config, steps, model_output, t, sample)
        case["x0_unthresholded"] = tensor_json(x0)
        case["threshold_s"] = tensor_json(threshold_info(s, x0))
    return case


def ddim_case(config, steps, t, eta, model_output, sample, noise):
    s = make(DDIMScheduler, config, steps)
    res = s.step(model_output, t, sample, eta=eta, variance_noise=noise if eta > 0 else None)
    case = {"scheduler": "DDIMScheduler", "config": config_of(s), "num_inference_steps": steps,
            "timestep": t, "prev_timestep": t - s.config.num_train_timesteps // steps, "eta": eta,
            "model_output": tensor_json(model_output), "sample": tensor_json(sample),
            "prev_sample": tensor_json(res.prev_sample),
            "pred_original_sample": tensor_json(res.pred_original_sample)}
    if eta > 0:
        case["noise"] = tensor_json(noise)
    if s.config.thresholding:
        x0 = unthresholded_x0(DDIMScheduler, config, steps, model_output, t, sample)
        case["x0_unthresholded"] = tensor_json(x0)
        case["threshold_s"] = tensor_json(threshold_info(s, x0))
    return case


class Seeds:
    def __init__(self, start):
        self.n = start

    def next(self):
        self.n += 1
        return self.n


def ddpm_prediction():
    out, sd = [], Seeds(1000)
    for pred in ("v_prediction", "sample"):
        for variance_type in ("fixed_small", "fixed_large"):
            for clip in (True, False):
                scale = 1.0 if clip else 3.0
                config = dict(prediction_type=pred, variance_type=variance_type, clip_sample=clip)
                for t in (980, 500, 20, 0):
                    seed = sd.next()
                    out.append(ddpm_case(config, 50, t, seeded(SHAPE, seed), seeded(SHAPE, seed + 10000, scale),
                                         seed + 20000))
    return out


def ddpm_learned_range():
    out, sd = [], Seeds(2000)
    cases = [
        # (variance_type, prediction_type, inference steps (None = all 1000), timesteps)
        ("learned_range", "epsilon", 50, [980, 500, 20, 0]),
        ("learned_range", "epsilon", None, [999, 500, 1, 0]),
        ("learned_range", "v_prediction", 50, [980, 500, 20, 0]),
        ("learned", "epsilon", 50, [980, 500, 20, 0]),
        ("learned", "epsilon", None, [999, 500, 1, 0]),
    ]
    for variance_type, pred, steps, ts in cases:
        config = dict(variance_type=variance_type, prediction_type=pred)
        for t in ts:
            seed = sd.next()
            eps = seeded(SHAPE, seed)
            r = seeded(SHAPE, seed + 30000)
            pv = torch.tanh(r) if variance_type == "learned_range" else 0.002 + 0.02 * r.abs()
            model_output = torch.cat([eps, pv], dim=1)
            out.append(ddpm_case(config, steps, t, model_output, seeded(SHAPE, seed + 10000), seed + 20000))
    return out


def ddpm_thresholding():
    out, sd = [], Seeds(3000)
    for ratio in (0.995, 0.9):
        for smv in (1.0, 1.5):
            config = dict(thresholding=True, dynamic_thresholding_ratio=ratio, sample_max_value=smv,
                          clip_sample=False)
            for t in (980, 500, 20, 0):
                seed = sd.next()
                out.append(ddpm_case(config, 50, t, seeded(SHAPE, seed), seeded(SHAPE, seed + 10000, 3.0),
                                     seed + 20000))
    # sample prediction: x0 = model_output directly, so thresholding acts on a known tensor.
    config = dict(thresholding=True, dynamic_thresholding_ratio=0.9, sample_max_value=1.5, clip_sample=False,
                  prediction_type="sample")
    for t in (500, 0):
        seed = sd.next()
        out.append(ddpm_case(config, 50, t, seeded(SHAPE, seed, 3.0), seeded(SHAPE, seed + 10000, 3.0),
                             seed + 20000))
    return out


def ddim_prediction():
    out, sd = [], Seeds(4000)
    for pred in ("v_prediction", "sample"):
        for eta in (0.0, 1.0):
            for spacing in ("leading", "trailing"):
                for one in (True, False):
                    clip = spacing == "leading"
                    scale = 1.0 if clip else 3.0
                    config = dict(prediction_type=pred, timestep_spacing=spacing, set_alpha_to_one=one,
                                  clip_sample=clip)
                    ts = make(DDIMScheduler, config, 50).timesteps.tolist()
                    for t in (ts[0], ts[25], ts[-1]):
                        seed = sd.next()
                        out.append(ddim_case(config, 50, int(t), eta, seeded(SHAPE, seed),
                                             seeded(SHAPE, seed + 10000, scale), seeded(SHAPE, seed + 20000)))
    return out


def ddim_thresholding():
    out, sd = [], Seeds(5000)
    for pred, ratio, smv in (("epsilon", 0.995, 1.5), ("v_prediction", 0.9, 1.0), ("epsilon", 0.9, 1.5)):
        for eta in (0.0, 1.0):
            config = dict(thresholding=True, dynamic_thresholding_ratio=ratio, sample_max_value=smv,
                          clip_sample=False, prediction_type=pred, set_alpha_to_one=False)
            for t in (980, 500, 0):
                seed = sd.next()
                out.append(ddim_case(config, 50, t, eta, seeded(SHAPE, seed), seeded(SHAPE, seed + 10000, 3.0),
                                     seeded(SHAPE, seed + 20000)))
    return out


def zero_snr():
    out, sd = [], Seeds(6000)
    for sched_name, kw in (("scaled_linear", SCALED), ("linear", dict(beta_schedule="linear"))):
        base = dict(kw, rescale_betas_zero_snr=True)
        p, d = DDPMScheduler(**base), DDIMScheduler(**base)
        assert torch.equal(p.betas, d.betas) and torch.equal(p.alphas_cumprod, d.alphas_cumprod)
        assert float(p.alphas_cumprod[-1]) == 0.0 and float(p.betas[-1]) == 1.0
        entry = {"beta_schedule": sched_name, "ddpm_config": config_of(p), "ddim_config": config_of(d),
                 "betas": tensor_json(p.betas)["data"], "alphas_cumprod": tensor_json(p.alphas_cumprod)["data"]}
        steps = []
        config = dict(base, timestep_spacing="trailing", prediction_type="v_prediction", clip_sample=False)
        for n, ts in ((50, (999, 499, 19)), (None, (999, 998, 0))):
            for t in ts:
                seed = sd.next()
                steps.append(ddpm_case(config, n, t, seeded(SHAPE, seed), seeded(SHAPE, seed + 10000), seed + 20000))
        entry["ddpm_steps"] = steps
        steps = []
        config = dict(config, set_alpha_to_one=False)
        for eta in (0.0, 1.0):
            for t in (999, 499, 19):
                seed = sd.next()
                steps.append(ddim_case(config, 50, t, eta, seeded(SHAPE, seed), seeded(SHAPE, seed + 10000),
                                       seeded(SHAPE, seed + 20000)))
        entry["ddim_steps"] = steps
        out.append(entry)
    return out


def fake_eps(x, t):
    tt = t.to(torch.float32).reshape(-1, 1, 1, 1) / 1000.0
    return x * 0.9 - tt * 0.1


def pipelines():
    out = []
    shape = (3, 1, 4, 4)
    seeds = [3, 7, 11]
    runs = [
        # (name, class, config, eta, learned_range fake model)
        ("ddpm_v_prediction", DDPMScheduler, dict(prediction_type="v_prediction"), 0.0, False),
        ("ddpm_learned_range", DDPMScheduler, dict(variance_type="learned_range"), 0.0, True),
        ("ddim_v_prediction_trailing_eta0", DDIMScheduler,
         dict(prediction_type="v_prediction", timestep_spacing="trailing"), 0.0, False),
        ("ddim_v_prediction_trailing_eta1", DDIMScheduler,
         dict(prediction_type="v_prediction", timestep_spacing="trailing"), 1.0, False),
        ("ddpm_thresholding", DDPMScheduler,
         dict(thresholding=True, dynamic_thresholding_ratio=0.995, sample_max_value=1.5, clip_sample=False),
         0.0, False),
        ("ddpm_zero_snr_trailing_v", DDPMScheduler,
         dict(rescale_betas_zero_snr=True, timestep_spacing="trailing", prediction_type="v_prediction"),
         0.0, False),
    ]
    for name, cls, config, eta, learned in runs:
        s = cls(**config)
        gens = [torch.Generator().manual_seed(sd) for sd in seeds]
        image = randn_tensor(shape, generator=gens)
        s.set_timesteps(10)
        for t in s.timesteps:
            tt = torch.full((shape[0],), int(t), dtype=torch.int64)
            model_output = fake_eps(image, tt)
            if learned:
                model_output = torch.cat([model_output, 0.3 * torch.tanh(image)], dim=1)
            if cls is DDPMScheduler:
                image = s.step(model_output, t, image, generator=gens).prev_sample
            else:
                image = s.step(model_output, t, image, eta=eta, generator=gens).prev_sample
        pil = (image / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
        u8 = (pil * 255).round().astype("uint8")
        assert torch.isfinite(image).all(), name
        out.append({"name": name, "scheduler": cls.__name__, "config": config_of(s), "steps": 10, "eta": eta,
                    "seeds": seeds, "timesteps": [int(v) for v in s.timesteps.tolist()],
                    "final": tensor_json(image), "uint8_nhwc": tensor_json(torch.from_numpy(u8))})
    return out


def all_step_cases(ref):
    for key in ("ddpm_prediction", "ddpm_learned_range", "ddpm_thresholding", "ddim_prediction", "ddim_thresholding"):
        for c in ref[key]:
            yield key, c
    for e in ref["zero_snr"]:
        for c in e["ddpm_steps"] + e["ddim_steps"]:
            yield "zero_snr", c


def check_float32_roundtrip(obj):
    """Every stored float parses back (via double, then float32) to the same float32."""
    n = 0
    if isinstance(obj, dict):
        for v in obj.values():
            n += check_float32_roundtrip(v)
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, float):
                assert np.float32(v) == np.float32(float(repr(v))) and f32(v) == v
                n += 1
            else:
                n += check_float32_roundtrip(v)
    return n


def independent_ddpm(c):
    """A float64 numpy restatement of the docstring's formulas (sanity check of the notes, not bitwise)."""
    cfg = c["config"]
    s = DDPMScheduler(**cfg)
    ac = s.alphas_cumprod.double().numpy()
    t, pt = c["timestep"], c["prev_timestep"]
    m = from_json(c["model_output"]).double().numpy()
    x = from_json(c["sample"]).double().numpy()
    noise = from_json(c["noise"]).double().numpy() if "noise" in c else None
    C = x.shape[1]
    pv = None
    if m.shape[1] == 2 * C and cfg["variance_type"] in ("learned", "learned_range"):
        m, pv = m[:, :C], m[:, C:]
    a_t, a_p = ac[t], (ac[pt] if pt >= 0 else 1.0)
    b_t = 1 - a_t
    alpha_t = a_t / a_p
    beta_t = 1 - alpha_t
    x0 = {"epsilon": lambda: (x - b_t ** 0.5 * m) / a_t ** 0.5, "sample": lambda: m,
          "v_prediction": lambda: a_t ** 0.5 * x - b_t ** 0.5 * m}[cfg["prediction_type"]]()
    if cfg["thresholding"]:
        flat = np.abs(x0.reshape(x0.shape[0], -1))
        q = np.quantile(flat, cfg["dynamic_thresholding_ratio"], axis=1)
        sv = np.clip(q, 1, cfg["sample_max_value"]).reshape(-1, 1, 1, 1)
        x0 = np.clip(x0, -sv, sv) / sv
    elif cfg["clip_sample"]:
        x0 = np.clip(x0, -cfg["clip_sample_range"], cfg["clip_sample_range"])
    mean = (a_p ** 0.5 * beta_t / b_t) * x0 + (alpha_t ** 0.5 * (1 - a_p) / b_t) * x
    if t > 0:
        var = max((1 - a_p) / (1 - a_t) * beta_t, 1e-20)
        vt = cfg["variance_type"]
        if vt == "fixed_small":
            mean = mean + var ** 0.5 * noise
        elif vt == "fixed_large":
            mean = mean + beta_t ** 0.5 * noise
        elif vt == "learned":
            mean = mean + pv ** 0.5 * noise
        elif vt == "learned_range":
            frac = (pv + 1) / 2
            mean = mean + np.exp(0.5 * (frac * np.log(beta_t) + (1 - frac) * np.log(var))) * noise
    return mean, x0


def independent_ddim(c):
    cfg = c["config"]
    s = DDIMScheduler(**cfg)
    ac = s.alphas_cumprod.double().numpy()
    final = 1.0 if cfg["set_alpha_to_one"] else ac[0]
    t, pt, eta = c["timestep"], c["prev_timestep"], c["eta"]
    m = from_json(c["model_output"]).double().numpy()
    x = from_json(c["sample"]).double().numpy()
    noise = from_json(c["noise"]).double().numpy() if "noise" in c else None
    a_t, a_p = ac[t], (ac[pt] if pt >= 0 else final)
    b_t = 1 - a_t
    pred = cfg["prediction_type"]
    if pred == "epsilon":
        x0, e = (x - b_t ** 0.5 * m) / a_t ** 0.5, m
    elif pred == "sample":
        x0, e = m, (x - a_t ** 0.5 * m) / b_t ** 0.5
    else:
        x0, e = a_t ** 0.5 * x - b_t ** 0.5 * m, a_t ** 0.5 * m + b_t ** 0.5 * x
    if cfg["thresholding"]:
        flat = np.abs(x0.reshape(x0.shape[0], -1))
        q = np.quantile(flat, cfg["dynamic_thresholding_ratio"], axis=1)
        sv = np.clip(q, 1, cfg["sample_max_value"]).reshape(-1, 1, 1, 1)
        x0 = np.clip(x0, -sv, sv) / sv
    elif cfg["clip_sample"]:
        x0 = np.clip(x0, -cfg["clip_sample_range"], cfg["clip_sample_range"])
    var = (1 - a_p) / b_t * (1 - a_t / a_p)
    std = eta * var ** 0.5
    prev = a_p ** 0.5 * x0 + (1 - a_p - std ** 2) ** 0.5 * e
    if eta > 0:
        prev = prev + std * noise
    return prev, x0


def verify(ref):
    """Re-run every step from the JSON's own inputs: outputs must be bitwise equal to those stored,
    and the float64 restatement of the formulas must agree closely."""
    n = 0
    for key, c in all_step_cases(ref):
        cls = DDPMScheduler if c["scheduler"] == "DDPMScheduler" else DDIMScheduler
        s = make(cls, c["config"], c["num_inference_steps"])
        m, x = from_json(c["model_output"]), from_json(c["sample"])
        t = c["timestep"]
        assert ("noise" in c) == (t > 0 if cls is DDPMScheduler else c["eta"] > 0)
        if cls is DDPMScheduler:
            if t > 0:
                assert torch.equal(from_json(c["noise"]), randn_tensor(
                    x.shape, generator=torch.Generator().manual_seed(c["generator_seed"])))
            r = s.step(m, t, x, generator=torch.Generator().manual_seed(c["generator_seed"]))
            prev, x0 = independent_ddpm(c)
        else:
            r = s.step(m, t, x, eta=c["eta"], variance_noise=from_json(c["noise"]) if c["eta"] > 0 else None)
            prev, x0 = independent_ddim(c)
        assert torch.equal(r.prev_sample, from_json(c["prev_sample"])), (key, t)
        assert torch.equal(r.pred_original_sample, from_json(c["pred_original_sample"])), (key, t)
        assert np.isfinite(prev).all()
        # zero-SNR DDIM, eta > 0 at t = 999: float32 leaves 1 - a_prev - std**2 = 5.96e-8, not 0 (see notes).
        tol = 1e-3 if (key == "zero_snr" and t == 999 and c.get("eta", 0) > 0) else 1e-4
        assert np.allclose(prev, from_json(c["prev_sample"]).double().numpy(), rtol=tol, atol=tol), (key, c["config"], t)
        assert np.allclose(x0, from_json(c["pred_original_sample"]).double().numpy(), rtol=1e-4, atol=1e-4), (key, t)
        n += 1
    return n


def main():
    torch.set_num_threads(1)
    ref = {
        "generator": f"make_scheduler_variants_reference.py, diffusers {diffusers.__version__}, torch {torch.__version__}",
        "ddpm_prediction": ddpm_prediction(),
        "ddpm_learned_range": ddpm_learned_range(),
        "ddpm_thresholding": ddpm_thresholding(),
        "ddim_prediction": ddim_prediction(),
        "ddim_thresholding": ddim_thresholding(),
        "zero_snr": zero_snr(),
        "pipelines": pipelines(),
    }
    with open(OUT, "w") as f:
        json.dump(ref, f, separators=(",", ":"))
        f.write("\n")
    with open(OUT) as f:
        back = json.load(f)
    nfloat = check_float32_roundtrip(back)
    nsteps = verify(back)
    # Thresholding must actually have bitten somewhere (s > 1) for those cases to mean anything.
    ss = [v for k, c in all_step_cases(back) if "threshold_s" in c for v in c["threshold_s"]["data"]]
    assert any(v > 1.0 for v in ss) and any(v == 1.5 for v in ss)
    for key in ref:
        if isinstance(ref[key], list):
            print("%-20s %d entries" % (key, len(ref[key])))
    for p in back["pipelines"]:
        print("  pipeline %-34s final[0:3] %s" % (p["name"], p["final"]["data"][:3]))
    print("threshold_s values: min %.4f max %.4f (%d > 1)" % (min(ss), max(ss), sum(v > 1 for v in ss)))
    print("%d step cases re-run bitwise from the JSON, %d floats round-trip float32" % (nsteps, nfloat))
    print(OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
