// The t2v studio: create videos, watch them render through their event streams, play the results.
// Plain browser JavaScript against the public API (/v1/...), no build step and nothing from elsewhere.
"use strict";

const KEY_STORAGE = "t2v_api_key";
// Browsers open at most six connections per server over HTTP/1.1: a few live streams leave room
// for everything else; other unfinished videos are refreshed by polling the list.
const MAX_STREAMS = 4;
const POLL_MS = 3000;
const SORA_SECONDS = ["4", "8", "12"];
const SORA_SIZES = ["1280x720", "720x1280", "1792x1024", "1024x1792"];
const FINAL = new Set(["completed", "failed", "cancelled"]);

const $ = (selector, root = document) => root.querySelector(selector);
const state = { key: localStorage.getItem(KEY_STORAGE) || "", models: {}, streams: new Map(), cards: new Map() };

function setKey(key) {
  state.key = key;
  if (key) {
    localStorage.setItem(KEY_STORAGE, key);
    // For the requests that can't carry a header (event streams, <video>, <img>); same site only.
    document.cookie = `${KEY_STORAGE}=${encodeURIComponent(key)}; path=/; SameSite=Strict`;
  } else {
    localStorage.removeItem(KEY_STORAGE);
    document.cookie = `${KEY_STORAGE}=; path=/; SameSite=Strict; max-age=0`;
  }
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// A call to the API; failures throw ApiError with the API's own message.
async function api(method, path, body) {
  const headers = state.key ? { Authorization: `Bearer ${state.key}` } : {};
  let payload = body;
  if (body && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload });
  } catch (err) {
    throw new ApiError(0, `The server could not be reached (${err.message}).`);
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: said below */ }
  if (!response.ok) {
    const message = data && data.error && data.error.message;
    if (response.status === 401) showKeyForm();
    throw new ApiError(response.status, message || `${response.status} ${response.statusText}: ${text.slice(0, 200)}`);
  }
  return data;
}

function showKeyForm() {
  $("#key-section").hidden = false;
  $("#api-key").value = state.key;
}

// --- the create form --------------------------------------------------------------------------

function option(value, text, selected = false) {
  const el = document.createElement("option");
  el.value = value;
  el.textContent = text;
  el.selected = selected;
  return el;
}

function fillChoices() {
  const model = state.models[$("#model").value];
  const seconds = $("#seconds");
  const size = $("#size");
  seconds.replaceChildren(option("", "model default", true), ...SORA_SECONDS.map((s) => option(s, `${s} s`)));
  size.replaceChildren(option("", `model default${model ? ` (${model.default_size})` : ""}`, true));
  if (!model) return;
  const sizes = model.allowed_sizes && model.allowed_sizes.length ? model.allowed_sizes : [model.default_size, ...SORA_SIZES];
  for (const value of new Set(sizes)) size.append(option(value, value));
  const clip = model.default_frames && model.native_fps ? ` · clips of ${(model.default_frames / model.native_fps).toFixed(1)} s` : "";
  $("#model-info").textContent = `${model.description || model.family}${clip}${model.live ? "" : " · no worker serves it right now"}`;
  const takesImages = (model.capabilities || []).includes("image");
  $("#image-field").hidden = !takesImages;
  if (!takesImages) $("#image").value = "";
}

async function loadModels() {
  const list = await api("GET", "/v1/models");
  const select = $("#model");
  const previous = select.value;
  select.replaceChildren();
  for (const model of list.data) {
    state.models[model.id] = model;
    select.append(option(model.id, model.live ? model.id : `${model.id} (offline)`, model.id === previous));
  }
  fillChoices();
}

async function createVideo(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $("#create-error");
  error.textContent = "";
  const prompt = $("#prompt").value.trim();
  if (!prompt) {
    error.textContent = "Write a prompt first.";
    $("#prompt").focus();
    return;
  }
  const body = new FormData();
  body.append("prompt", prompt);
  body.append("model", $("#model").value);
  for (const name of ["seconds", "size", "webhook_url"]) {
    const value = form.elements[name].value.trim();
    if (value) body.append(name, value);
  }
  const image = $("#image").files[0];
  if (image && !$("#image-field").hidden) body.append("input_reference", image);
  const button = $("#create-button");
  button.disabled = true;
  button.textContent = "Sending…";
  try {
    const video = await api("POST", "/v1/videos", body);
    showVideo(video, true);
    $("#prompt").value = "";
  } catch (err) {
    error.textContent = err.message;
  } finally {
    button.disabled = false;
    button.textContent = "Generate";
  }
}

// --- the list of videos -------------------------------------------------------------------------

function describePhase(type, data) {
  switch (type) {
    case "queued":
      return data.queue_position ? `Queued: position ${data.queue_position}` : "Queued";
    case "expanding":
      return data.done ? "Prompt rewritten for the model" : "Rewriting the prompt…";
    case "loading":
      return "Loading the model…";
    case "progress": {
      const chunk = data.chunks > 1 ? ` of chunk ${data.chunk}/${data.chunks}` : "";
      const eta = data.eta_s == null ? "" : ` · about ${Math.ceil(data.eta_s)} s left`;
      const phase = data.phase === "decoding" ? "Decoding" : "Denoising";
      return `${phase}: step ${data.step}/${data.steps}${chunk} · ${data.percent}%${eta}`;
    }
    default:
      return type;
  }
}

function contentUrl(id, variant = "video") {
  return `/v1/videos/${id}/content?variant=${variant}`;
}

function showVideo(video, newest = false) {
  let card = state.cards.get(video.id);
  // A listing fetched before the live stream announced the end is stale: a finished card stays finished.
  if (card && FINAL.has(card.dataset.status) && !FINAL.has(video.status)) return card;
  // While a live stream follows the card, its events are fresher than any listing.
  if (card && state.streams.has(video.id) && !FINAL.has(video.status)) return card;
  if (!card) {
    card = $("#video-template").content.firstElementChild.cloneNode(true);
    card.id = `video-${video.id}`;
    card.dataset.id = video.id;
    $(".prompt", card).textContent = video.prompt;
    $(".preview", card).alt = `Preview of “${video.prompt}” while it renders`;
    $("progress", card).setAttribute("aria-label", `Progress of “${video.prompt}”`);
    wireActions(card, video);
    state.cards.set(video.id, card);
    const list = $("#videos");
    if (newest) list.prepend(card); else list.append(card);
    $("#no-videos").hidden = true;
  }
  render(card, video);
  if (!FINAL.has(video.status)) follow(video.id, newest);
  return card;
}

function setStatus(card, video, status) {
  card.dataset.status = status;
  $(".meta", card).textContent = `${video.model} · ${video.size} · ${video.seconds} s · ${status.replace("_", " ")}`;
}

function render(card, video) {
  card.video = video;
  setStatus(card, video, video.status);
  const done = FINAL.has(video.status);
  $(".live", card).hidden = done;
  $("progress", card).value = video.progress || 0;
  if (!$(".phase", card).textContent) $(".phase", card).textContent = describePhase(video.status, video);
  $(".cancel", card).hidden = done;
  const completed = video.status === "completed";
  for (const selector of [".remix", ".extend"]) $(selector, card).hidden = !completed;
  const download = $(".download", card);
  download.hidden = !completed;
  if (completed) {
    const player = $(".player", card);
    if (!player.getAttribute("src")) player.src = contentUrl(video.id);
    player.hidden = false;
    $(".preview", card).hidden = true;
    download.href = contentUrl(video.id);
    download.download = `${video.id}.mp4`;
  }
  if (video.error && video.status !== "completed") $(".error", card).textContent = video.error.message;
}

function follow(id, madeHere = false) {
  if (state.streams.has(id)) return;
  // A video just made here always streams live: the one followed longest goes back to the list's polling.
  if (madeHere && state.streams.size >= MAX_STREAMS) release(state.streams.keys().next().value);
  if (state.streams.size >= MAX_STREAMS) return;
  const source = new EventSource(`/v1/videos/${id}/events`);
  state.streams.set(id, source);
  const card = state.cards.get(id);
  const phase = $(".phase", card);
  const bar = $("progress", card);
  const on = (type, handler) => source.addEventListener(type, (event) => handler(JSON.parse(event.data)));
  for (const type of ["queued", "expanding", "loading"]) {
    on(type, (data) => {
      phase.textContent = describePhase(type, data);
      setStatus(card, card.video, type === "loading" ? "in_progress" : card.dataset.status);
    });
  }
  on("progress", (data) => {
    if (card.dataset.status !== "in_progress") setStatus(card, card.video, "in_progress");
    bar.value = data.percent;
    phase.textContent = describePhase("progress", data);
  });
  on("preview", (data) => {
    const img = $(".preview", card);
    img.src = data.url;
    img.hidden = false;
  });
  for (const type of FINAL) {
    on(type, (data) => {
      // The card shows its end before the stream's slot goes to another unfinished video.
      if (data.video) render(card, data.video);
      else card.dataset.status = type;
      stopFollowing(id);
      if (!data.video) refresh();
    });
  }
  source.onerror = () => {
    // EventSource reconnects by itself (sending Last-Event-ID); a refusal closes it for good.
    if (source.readyState === EventSource.CLOSED) {
      stopFollowing(id);
      $(".error", card).textContent = "The live updates stopped; the list refreshes instead.";
    }
  };
}

function release(id) {
  const source = state.streams.get(id);
  if (source) source.close();
  state.streams.delete(id);
}

function stopFollowing(id) {
  release(id);
  // A free slot: follow the next unfinished video that waits for one.
  for (const [other, card] of state.cards) {
    if (other !== id && !FINAL.has(card.dataset.status) && !state.streams.has(other)) {
      follow(other);
      break;
    }
  }
}

function wireActions(card, video) {
  const error = $(".error", card);
  const act = async (button, work) => {
    error.textContent = "";
    button.disabled = true;
    try {
      await work();
    } catch (err) {
      error.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  };
  $(".delete", card).addEventListener("click", (event) =>
    act(event.currentTarget, async () => {
      await api("DELETE", `/v1/videos/${video.id}`);
      stopFollowing(video.id);
      state.cards.delete(video.id);
      card.remove();
      $("#no-videos").hidden = state.cards.size > 0;
      $("#videos-heading").focus();
    }));
  $(".cancel", card).addEventListener("click", (event) =>
    act(event.currentTarget, async () => render(card, await api("POST", `/v1/videos/${video.id}/cancel`))));
  const followUp = $(".follow-up", card);
  const openFollowUp = (kind) => {
    followUp.dataset.kind = kind;
    $(".follow-up-label", card).textContent = kind === "remix" ? "Remix: what should change?" : "Extend: what happens next?";
    followUp.hidden = false;
    $("textarea", followUp).focus();
  };
  $(".remix", card).addEventListener("click", () => openFollowUp("remix"));
  $(".extend", card).addEventListener("click", () => openFollowUp("extend"));
  $(".close-follow-up", card).addEventListener("click", () => { followUp.hidden = true; });
  followUp.addEventListener("submit", (event) => {
    event.preventDefault();
    const prompt = $("textarea", followUp).value.trim();
    if (!prompt) return;
    act($("button[type=submit]", followUp), async () => {
      const made = followUp.dataset.kind === "remix"
        ? await api("POST", `/v1/videos/${video.id}/remix`, { prompt })
        : await api("POST", "/v1/videos/extensions", { video: { id: video.id }, prompt, seconds: video.seconds });
      followUp.hidden = true;
      $("textarea", followUp).value = "";
      showVideo(made, true);
    });
  });
}

async function refresh() {
  const error = $("#list-error");
  try {
    const list = await api("GET", "/v1/videos?limit=30");
    error.textContent = "";
    for (const video of list.data) showVideo(video);
    $("#no-videos").hidden = state.cards.size > 0;
    $("#videos").dataset.loaded = "true";
  } catch (err) {
    error.textContent = err.message;
  }
}

// Unfinished videos without a live stream (more than MAX_STREAMS) are polled.
setInterval(() => {
  const waiting = [...state.cards].some(([id, card]) => !FINAL.has(card.dataset.status) && !state.streams.has(id));
  if (waiting) refresh();
}, POLL_MS);

async function load() {
  try {
    await loadModels();
    $("#key-section").hidden = !state.key;
    $("#create-error").textContent = "";
  } catch (err) {
    $("#create-error").textContent = err.message;
    return;
  }
  await refresh();
}

function start() {
  if (state.key) setKey(state.key);
  $("#model").addEventListener("change", fillChoices);
  $("#create-form").addEventListener("submit", createVideo);
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setKey($("#api-key").value.trim());
    load();
  });
  $("#forget-key").addEventListener("click", () => {
    setKey("");
    $("#api-key").value = "";
  });
  load();
}

document.addEventListener("DOMContentLoaded", start, { once: true });
