"""The embedded default model: a small Wan-architecture text-to-video pipeline trained
from scratch on a synthetic world of moving shapes (see MODEL_CARD.md).

Plain data only here: the API process reads these without importing torch.
"""

from pathlib import Path


PIPELINE_DIR = Path(__file__).resolve().parent / "pipeline"
# Trained sizes as "WxH"; the first is the default.
SIZES = ["64x64", "96x64"]
# Frame counts to request. The VAE is frame-wise (temporal scale 1) and WanPipeline
# rounds num_frames to n * scale + 1, so it returns one frame more (18 and 10); the
# transformer was trained on exactly those lengths.
FRAME_COUNTS = [17, 9]
FPS = 8
DEFAULT_STEPS = 20
DEFAULT_GUIDANCE = 5.0
