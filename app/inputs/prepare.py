"""What a create-like request brings besides text, made ready for the record and the worker.

Create, remix and edits all go through the create path (app/routes/videos.py); this module
turns their inputs into `PreparedInputs`: the conditions (workers/conditioning, JSON in the
record), the bytes to store with the video, and warnings for the video object. Remix and edits
hand theirs over ready-made under `PREPARED`; create reads `input_reference`.
"""

import contextlib
from dataclasses import dataclass, field

from redis import Redis

from app.characters import store as characters
from app.errors import InvalidRequest
from app.expansion.characters import insert_descriptions, named_in
from app.inputs.fetch import fetch_image_url
from app.inputs.images import check_image
from app.inputs.store import store_inputs
from app.settings import Settings
from app.storage import Storage
from app.validation import ResolvedRequest
from app.webhooks.url_safety import AllowList
from models.catalog import Catalog, CatalogEntry
from workers.conditioning import Conditions, Pin, Reference


# Key under which remix and edits pass their prepared inputs into the create path (never from JSON:
# only a `PreparedInputs` object counts).
PREPARED = "__prepared_inputs__"

WHAT = {
    "image": "an image (input_reference)",
    "video": "a video to re-draw (remix, edits)",
    "reference": "reference images of a character",
}
INPUT_REFERENCE_FORMS = (
    "send the image as a file (multipart field `input_reference`) or as "
    '`input_reference[image_url]` / {"input_reference": {"image_url": ...}} with an https or data: URL'
)


@dataclass
class PreparedInputs:
    conditions: Conditions = field(default_factory=Conditions)
    inputs: dict[str, bytes] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    remixed_from: str | None = None
    characters: list[dict] = field(default_factory=list)

    def apply(self, record: dict) -> None:
        """Write onto a new record, before expansion is planned (it reads `character_prompt`)."""
        record["conditions"] = self.conditions.to_json() if self.conditions else None
        record["remixed_from_video_id"] = self.remixed_from
        if self.characters:
            record["characters"] = [{"id": c["id"], "name": c["name"]} for c in self.characters]
            record["character_prompt"] = insert_descriptions(record["prompt"], self.characters)
            record["revised_prompt"] = record["character_prompt"]
        if self.warnings:
            notes = "; ".join(self.warnings)
            record["warning"] = f"{record['warning']}; {notes}" if record.get("warning") else notes

    @contextlib.contextmanager
    def stored(self, storage: Storage, record: dict):
        """Store the inputs before the video is queued; remove them again if it is not."""
        store_inputs(storage, record["id"], self.inputs)
        try:
            yield
        except BaseException:
            if self.inputs:
                storage.delete(record["id"])
            raise


def require(entry: CatalogEntry, capability: str, catalog: Catalog, param: str) -> None:
    """400 naming a served model that can, when `entry` cannot take `capability`."""
    if capability in entry.spec.capabilities:
        return
    able = [name for name in catalog.names() if capability in catalog[name].spec.capabilities]
    hint = f"models that can: {', '.join(able)}" if able else "no served model can"
    raise InvalidRequest(
        f"model {entry.name!r} cannot take {WHAT[capability]}; {hint}", param=param, code="unsupported_capability"
    )


def _image_bytes(value, settings: Settings) -> tuple[bytes, str]:
    """The bytes of `input_reference` in any form the SDK sends, and the param to blame."""
    if hasattr(value, "filename") and hasattr(value, "file"):  # an uploaded file
        return value.file.read(settings.input_max_image_bytes + 1), "input_reference"
    if isinstance(value, dict):
        if value.get("file_id"):
            raise InvalidRequest(
                f"input_reference.file_id: there is no Files API on this server; {INPUT_REFERENCE_FORMS}",
                param="input_reference.file_id",
                code="unsupported_parameter",
            )
        if value.get("image_url"):
            param = "input_reference.image_url"
            data = fetch_image_url(
                value["image_url"],
                param,
                max_bytes=settings.input_max_image_bytes,
                timeout_s=settings.input_fetch_timeout_s,
                allow=AllowList.parse(settings.input_url_allowed_hosts),
            )
            return data, param
    raise InvalidRequest(f"input_reference: {INPUT_REFERENCE_FORMS}", param="input_reference")


def image_to_video(value, resolved: ResolvedRequest, settings: Settings) -> PreparedInputs:
    data, param = _image_bytes(value, settings)
    image = check_image(data, param, settings.input_max_image_bytes, settings.input_max_image_pixels)
    prepared = PreparedInputs(conditions=Conditions(pins=[Pin(at=0, source="input_image")]))
    prepared.inputs["input_image"] = image.png
    if (image.width, image.height) != (resolved.width, resolved.height):
        prepared.warnings.append(
            f"input_reference is {image.width}x{image.height}; it was resized and centre-cropped to "
            f"{resolved.width}x{resolved.height}"
        )
    return prepared


def _add_characters(prepared: PreparedInputs, prompt: str, entry: CatalogEntry, redis: Redis, owner: str) -> None:
    named = named_in(prompt, characters.of_owner(redis, owner))
    if not named:
        return
    prepared.characters = named
    if "reference" in entry.spec.capabilities and "reference_image" not in prepared.inputs:
        frame = characters.frame(redis, named[0]["id"])
        if frame:
            prepared.inputs["reference_image"] = frame
            prepared.conditions.references.append(Reference(source="reference_image"))


def _check_image_only(entry: CatalogEntry, body: dict, resolved: ResolvedRequest, from_video: bool) -> None:
    """An image-to-video checkpoint makes one clip from one image; nothing else reaches it."""
    if from_video or not body.get("input_reference"):
        raise InvalidRequest(
            f"model {entry.name!r} is an image-to-video checkpoint: every video starts from an image "
            f"({INPUT_REFERENCE_FORMS}); it cannot remix, edit or extend videos",
            param="input_reference",
            code="unsupported_capability",
        )
    if resolved.is_chunked or resolved.loop:
        longest = (resolved.chunk_frames - 1) / resolved.fps
        raise InvalidRequest(
            f"model {entry.name!r} is an image-to-video checkpoint: it makes one clip of at most {longest:g} s, "
            "without loops",
            param="loop" if resolved.loop else "seconds",
        )


def prepare_inputs(
    body: dict,
    prompt: str,
    resolved: ResolvedRequest,
    catalog: Catalog,
    settings: Settings,
    redis: Redis,
    owner: str,
) -> PreparedInputs:
    entry = catalog[resolved.model]
    prepared = body.get(PREPARED)
    if "text" not in entry.spec.capabilities:
        _check_image_only(entry, body, resolved, isinstance(prepared, PreparedInputs))
    if isinstance(prepared, PreparedInputs):
        if prepared.conditions.video is not None:
            require(entry, "video", catalog, "model")
    elif body.get("input_reference"):
        require(entry, "image", catalog, "input_reference")
        prepared = image_to_video(body["input_reference"], resolved, settings)
    else:
        prepared = PreparedInputs()
    _add_characters(prepared, prompt, entry, redis, owner)
    return prepared
