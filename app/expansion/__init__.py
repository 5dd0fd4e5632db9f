"""Prompt expansion: short user prompts become the detailed captions video models were trained on.

The API decides at create time (`plan`): LLM expansion runs as an RQ job on the `expand` queue
before the render (`workers/expand.py`), offline expansion (the embedded model's rule-based
expander) runs inline, or the prompt passes through. The pieces the job uses are small modules:
`prompting` (messages and the system-prompt version), `llm` (the openai client with bounded
retries), `checks` (is the reply a caption?), `cache` (Redis), `handoff` (record + render job in
one transaction) and `stats` (figures for /metrics).

`prompt_expansion` on the record tells how the sampler's prompt was obtained: `pending` (the
expand job has not finished), `expanded`, `cached`, `offline`, `off`, or `fallback: <reason>`.
"""
