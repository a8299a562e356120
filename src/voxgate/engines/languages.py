"""Language-code mapping between voxgate (``en``, ``zh``, ``ja``, ...) and espeak-ng codes."""

from __future__ import annotations

_VOXGATE_TO_ESPEAK = {"en": "en-us", "zh": "cmn", "ja": "ja", "yue": "yue"}
_ESPEAK_TO_VOXGATE = {"cmn": "zh", "cmn-latn-pinyin": "zh", "yue": "yue"}


def voxgate_language(espeak_code: str) -> str:
    """Map an espeak code to voxgate's language tag (``en-us`` → ``en``, ``cmn`` → ``zh``)."""
    code = espeak_code.lower()
    if code in _ESPEAK_TO_VOXGATE:
        return _ESPEAK_TO_VOXGATE[code]
    return code.split("-", 1)[0]


def espeak_voice_for(language: str) -> str:
    """Map a voxgate language to the espeak code that reads it best (``zh`` → ``cmn``)."""
    return _VOXGATE_TO_ESPEAK.get(language.lower(), language.lower())
