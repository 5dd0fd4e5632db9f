"""The plan of a long video: which frames each chunk delivers, how much it overlaps the previous
one, and the prompt it renders. Plain data, stored in the record (`long_video`) the first time a
worker takes the video, so a worker that resumes it follows the same plan.

Chunk i+1 starts with the last `overlap_latents` latent frames of chunk i pinned (see
workers/conditioning). A causal VAE decodes the first latent frame into one pixel frame and each
later one into `temporal_scale` frames, so the pinned latents cover `overlap_frames` pixel frames
at the start of the chunk: those repeat the end of chunk i and are not delivered again.

A plan may continue frames made elsewhere (`continues`: an extension, a transition's first
video), so its first chunk starts from a tail too; and it may end on known frames (`closes`: a
loop's own first frames, a transition's second video), so its last chunk is a bridge pinned at
both ends whose last `closing_frames` frames are not delivered either.
"""

from dataclasses import asdict, dataclass


# Share of a chunk's latent frames carried over from the previous chunk: enough context to keep
# motion going, little enough that most of each render is new video.
OVERLAP_SHARE = 0.25
# Prompt segments for successive chunks are separated by this character in the prompt.
SEGMENT_SEPARATOR = "|"


@dataclass(frozen=True)
class ChunkPlan:
    total_frames: int
    # Frames one render is asked for, and how many of them a chunk uses (its first `chunk_frames`).
    chunk_frames: int
    temporal_scale: int
    overlap_latents: int
    overlap_frames: int
    # Frames each chunk adds to the video, in order (the last chunk is cut to fit).
    new_frames: list[int]
    prompts: list[str]
    continues: bool = False
    closes: bool = False

    @property
    def closing_frames(self) -> int:
        """Pixel frames the closing pin covers at the end of the last chunk (whole latent slots)."""
        return self.overlap_latents * self.temporal_scale

    @property
    def chunks(self) -> int:
        return len(self.new_frames)

    @property
    def used_latents(self) -> int:
        """Latent frames behind a chunk's `chunk_frames` frames; the tail is taken from these."""
        return (self.chunk_frames - 1) // self.temporal_scale + 1

    def first_new_frame(self, chunk: int) -> int:
        """Index, within chunk `chunk`'s frames, of the first frame it delivers."""
        return 0 if chunk == 0 and not self.continues else self.overlap_frames

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict) -> "ChunkPlan":
        return cls(**raw)


def overlap_latents_for(latent_frames: int) -> int:
    return max(1, round(latent_frames * OVERLAP_SHARE))


def prompt_segments(prompt: str) -> list[str]:
    return [part.strip() for part in prompt.split(SEGMENT_SEPARATOR) if part.strip()] or [prompt]


def chunk_prompts(prompt: str, revised_prompt: str | None, chunks: int) -> list[str]:
    """One prompt per chunk: `a | b | c` spreads its segments evenly over the chunks. The
    expansion step's rewrite is used when it kept the segments (or there was only one)."""
    segments = prompt_segments(prompt)
    if revised_prompt:
        revised = prompt_segments(revised_prompt)
        if len(revised) == len(segments):
            segments = revised
    return [segments[i * len(segments) // chunks] for i in range(chunks)]


def make_plan(
    total_frames: int,
    chunk_frames: int,
    temporal_scale: int,
    prompt: str,
    revised_prompt: str | None = None,
    overlap_latents: int | None = None,
    continues: bool = False,
    closes: bool = False,
    temporal_patch: int = 1,
) -> ChunkPlan:
    """Chunks that deliver `total_frames` new frames. `temporal_patch`: latent frames the
    transformer groups into one token (Wan: 2 in the embedded model); the pinned tail starts on
    such a group, so the new chunk groups the tail's frames as the previous chunk did."""
    latent_frames = (chunk_frames - 1) // temporal_scale + 1
    if latent_frames < 2:
        raise ValueError(f"a chunk of {chunk_frames} frames has one latent frame: nothing to continue from")
    overlap = overlap_latents or overlap_latents_for(latent_frames)
    # A bridge needs room for both pins and at least one new latent frame between them.
    overlap = max(1, min(overlap, (latent_frames - 1) // 2 if closes else latent_frames - 1))
    while (latent_frames - overlap) % temporal_patch and overlap < latent_frames - 1 - (closes * overlap):
        overlap += 1
    overlap_frames = 1 + (overlap - 1) * temporal_scale
    step = chunk_frames - overlap_frames
    bridge = step - overlap * temporal_scale if closes else 0
    if closes and (bridge < 1 or (not continues and total_frames - bridge < 1)):
        raise ValueError(f"{total_frames} frames are too few for a bridge of {bridge} frames")
    before = total_frames - bridge
    new_frames = [] if before == 0 else [min(step if continues else chunk_frames, before)]
    while sum(new_frames) < before:
        new_frames.append(min(step, before - sum(new_frames)))
    if closes:
        new_frames.append(bridge)
    return ChunkPlan(
        total_frames=total_frames,
        chunk_frames=chunk_frames,
        temporal_scale=temporal_scale,
        overlap_latents=overlap,
        overlap_frames=overlap_frames,
        new_frames=new_frames,
        prompts=chunk_prompts(prompt, revised_prompt, len(new_frames)),
        continues=continues,
        closes=closes,
    )
