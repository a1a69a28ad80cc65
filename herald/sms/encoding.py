"""How many segments an SMS takes: GSM-7 when every character is in the GSM 03.38 alphabet
(its extension characters count twice), else UCS-2 (UTF-16 code units). A single segment holds
160 GSM-7 or 70 UCS-2 characters; a concatenated message 153 or 67 a segment (the rest of each
is the header that joins them)."""

from __future__ import annotations

from dataclasses import dataclass

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str
    characters: int
    segments: int
    per_segment: int
    remaining: int
    non_gsm: list[str]


def segment_info(body: str) -> SegmentInfo:
    non_gsm = sorted({c for c in body if c not in GSM_BASIC and c not in GSM_EXTENSION})
    if not non_gsm:
        length = sum(2 if c in GSM_EXTENSION else 1 for c in body)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        length = len(body.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    if length <= single:
        segments, per_segment = (1 if length else 0), single
    else:
        per_segment = multi
        segments = -(-length // multi)
    remaining = per_segment * max(segments, 1) - length
    return SegmentInfo(encoding, length, segments, per_segment, remaining, non_gsm)
