"""The text-to-image suite's diffusers pipeline: a pixel-space text-conditioned denoiser.

`ShapesPipeline` is a `diffusers.DiffusionPipeline` with four registered components,
saved and loaded by diffusers' own `save_pretrained` / `from_pretrained` (a directory
with `model_index.json` and one folder per component):

- ``unet``: `diffusers.UNet2DConditionModel`, predicting v (velocity) for 24x24 RGB
  images (pixel space: no VAE, the images are tiny), given the noisy image and two
  coordinate channels (`with_coordinates`);
- ``scheduler``: the training noise schedule (`DDPMScheduler`); sampling swaps in any
  diffusers scheduler built from its config (`cegi_imagine.sampler`);
- ``text_encoder``: `transformers.CLIPTextModel`, a 2-layer CLIP text tower;
- ``tokenizer``: a word-level `PreTrainedTokenizerFast` over the task's vocabulary.

Importing this module imports torch and diffusers: `cegi_imagine` imports it lazily.
"""

from __future__ import annotations

import inspect

import torch
from diffusers import DiffusionPipeline


def with_coordinates(x: torch.Tensor) -> torch.Tensor:
    """`x` with two more channels, each pixel's column and row in [-1, 1] (CoordConv):
    the denoiser's convolutions are translation-equivariant, so without them a tiny UNet
    only learns where it is from the zero padding at the borders, and did not learn to
    place a shape where the prompt says (position at chance after pretraining)."""
    n, _, h, w = x.shape
    ys = torch.linspace(-1, 1, h).view(1, 1, h, 1).expand(n, 1, h, w)
    xs = torch.linspace(-1, 1, w).view(1, 1, 1, w).expand(n, 1, h, w)
    return torch.cat([x, xs, ys], dim=1)


class ShapesPipeline(DiffusionPipeline):
    model_cpu_offload_seq = "text_encoder->unet"

    def __init__(self, unet, scheduler, text_encoder, tokenizer):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer)

    def encode(self, prompts: list[str]) -> torch.Tensor:
        """Per-token text embeddings (the cross-attention context), padded to the
        tokenizer's fixed length so that every batch has one shape."""
        enc = self.tokenizer(
            prompts, padding="max_length", max_length=self.tokenizer.model_max_length, return_tensors="pt"
        )
        return self.text_encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state

    @torch.inference_mode()
    def __call__(
        self,
        prompts: list[str],
        *,
        num_inference_steps: int,
        guidance_scale: float,
        seed: int,
        output_type: str = "pil",
    ):
        """Sample one image per prompt. Deterministic: the initial noise and every noise
        the sampler adds come from one CPU `torch.Generator` seeded with `seed`, so the
        same prompts, steps, guidance, seed and scheduler give the same pixels.

        `guidance_scale` > 1 runs classifier-free guidance (the denoiser sees each image
        twice per step: with its prompt and with the empty prompt)."""
        prompts = list(prompts)
        generator = torch.Generator("cpu").manual_seed(seed)
        size = self.unet.config.sample_size
        channels = self.unet.config.out_channels  # in_channels adds the two coordinate channels
        x = torch.randn((len(prompts), channels, size, size), generator=generator)
        guided = guidance_scale > 1.0
        context = self.encode(prompts + [""] * len(prompts) if guided else prompts)
        self.scheduler.set_timesteps(num_inference_steps)
        # Ancestral and SDE samplers draw noise at every step: from the same generator.
        takes_generator = "generator" in inspect.signature(self.scheduler.step).parameters
        extra = {"generator": generator} if takes_generator else {}
        x = x * self.scheduler.init_noise_sigma
        for t in self.scheduler.timesteps:
            batch = torch.cat([x, x]) if guided else x
            batch = self.scheduler.scale_model_input(batch, t)
            eps = self.unet(with_coordinates(batch), t, encoder_hidden_states=context).sample
            if guided:
                cond, uncond = eps.chunk(2)
                eps = uncond + guidance_scale * (cond - uncond)
            x = self.scheduler.step(eps, t, x, **extra).prev_sample
        x = (x.clamp(-1, 1) + 1) / 2
        if output_type == "pt":
            return x
        from PIL import Image

        arrays = (x.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
        return [Image.fromarray(a, "RGB") for a in arrays]
