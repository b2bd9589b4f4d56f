"""Draft counts reach ``Info.stats`` and the ``[STATS]`` block (only when drafting ran)."""

from __future__ import annotations

import lmstream
from lmstream import GenerationStats
from lmstream_observers import format_stats_block

TEXT = "for i in range(10):\n    print(i)\n"


def test_the_stats_block_shows_draft_tokens_only_when_proposed() -> None:
    assert "draft tokens" not in format_stats_block(GenerationStats())
    block = format_stats_block(GenerationStats(draft_tokens_proposed=40, draft_tokens_accepted=30))
    assert "draft tokens:           30 of 40 accepted (75%)" in block.splitlines()


def test_a_speculating_generation_reports_its_drafts() -> None:
    with lmstream.load(backend="scripted", reply=TEXT, model_chat_template=None,
                       drafter="prompt_lookup") as context:
        info = context.generate("Again: " + TEXT).info
    stats = info.stats
    assert 0 < stats.draft_tokens_accepted <= stats.draft_tokens_proposed
    assert stats.to_dict()["draft_tokens_accepted"] == stats.draft_tokens_accepted
    assert f"{stats.draft_tokens_accepted} of {stats.draft_tokens_proposed} accepted" in format_stats_block(info)
