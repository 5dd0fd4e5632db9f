"""The embedded default model: a small Wan-architecture text-to-video pipeline trained
from scratch on a synthetic world of moving shapes (see MODEL_CARD.md).

Plain data only here: the API process reads these without importing torch.
"""

from pathlib import Path


PIPELINE_DIR = Path(__file__).resolve().parent / "pipeline"
# Trained sizes as "WxH"; the first is the default.
SIZES = ["64x64", "96x64", "64x96"]
# Frame counts to request: 4k + 1 (the VAE compresses time 4x after the first frame),
# so WanPipeline returns exactly the frames asked (5 and 3 latent frames).
FRAME_COUNTS = [17, 9]
FPS = 8
DEFAULT_STEPS = 20
DEFAULT_GUIDANCE = 5.0
