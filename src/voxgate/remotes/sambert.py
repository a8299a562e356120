"""The Sambert voice catalogue: every ``sambert-*-v1`` model with its languages, gender and rate.

Source: Alibaba Cloud Model Studio, "Sambert Python SDK / Java SDK → 模型列表" (help.aliyun.com,
model-studio/sambert-python-sdk), the table of 43 models with their language ("中文+英文",
"美式英文", Spanish, Italian, Indonesian, French, German, Thai) and default (native) sample rate:
nine 48 kHz Chinese+English voices, every other voice 16 kHz. A model is asked for at its native
rate: the service also resamples, but upsampling a 16 kHz voice adds nothing. Gender is the
voice's description there (男声 male, 女声 female; 童声, a child's voice, is listed as unknown).
"""

from __future__ import annotations

from dataclasses import dataclass

from voxgate.types import Gender


@dataclass(frozen=True, slots=True)
class SambertModel:
    """One Sambert voice as the DashScope model list describes it."""

    languages: tuple[str, ...]
    sample_rate: int
    gender: Gender
    description: str


_ZH_EN = ("zh", "en")
_M, _F, _U = Gender.MALE, Gender.FEMALE, Gender.UNKNOWN


def _zh(rate: int, gender: Gender, description: str) -> SambertModel:
    return SambertModel(_ZH_EN, rate, gender, description)


def _one(language: str, gender: Gender, description: str) -> SambertModel:
    return SambertModel((language,), 16000, gender, description)


SAMBERT_MODELS: dict[str, SambertModel] = {
    # Chinese + English, 48 kHz
    "sambert-zhinan-v1": _zh(48000, _M, "Zhinan, advertising male voice"),
    "sambert-zhiqi-v1": _zh(48000, _F, "Zhiqi, gentle female voice"),
    "sambert-zhichu-v1": _zh(48000, _M, "Zhichu, news male voice"),
    "sambert-zhide-v1": _zh(48000, _M, "Zhide, news male voice"),
    "sambert-zhijia-v1": _zh(48000, _F, "Zhijia, standard female voice"),
    "sambert-zhiru-v1": _zh(48000, _F, "Zhiru, news female voice"),
    "sambert-zhiqian-v1": _zh(48000, _F, "Zhiqian, information female voice"),
    "sambert-zhixiang-v1": _zh(48000, _M, "Zhixiang, magnetic male voice"),
    "sambert-zhiwei-v1": _zh(48000, _F, "Zhiwei, young female voice"),
    # Chinese + English, 16 kHz
    "sambert-zhihao-v1": _zh(16000, _M, "Zhihao, consulting male voice"),
    "sambert-zhijing-v1": _zh(16000, _F, "Zhijing, stern female voice"),
    "sambert-zhiming-v1": _zh(16000, _M, "Zhiming, humorous male voice"),
    "sambert-zhimo-v1": _zh(16000, _M, "Zhimo, emotional male voice"),
    "sambert-zhina-v1": _zh(16000, _F, "Zhina, Zhejiang-accented female voice"),
    "sambert-zhishu-v1": _zh(16000, _M, "Zhishu, information male voice"),
    "sambert-zhistella-v1": _zh(16000, _F, "Zhistella, intellectual female voice"),
    "sambert-zhiting-v1": _zh(16000, _F, "Zhiting, radio female voice"),
    "sambert-zhixiao-v1": _zh(16000, _F, "Zhixiao, information female voice"),
    "sambert-zhiya-v1": _zh(16000, _F, "Zhiya, stern female voice"),
    "sambert-zhiye-v1": _zh(16000, _M, "Zhiye, young male voice"),
    "sambert-zhiying-v1": _zh(16000, _U, "Zhiying, cute child's voice"),
    "sambert-zhiyuan-v1": _zh(16000, _F, "Zhiyuan, big-sister female voice"),
    "sambert-zhiyue-v1": _zh(16000, _F, "Zhiyue, gentle customer-service female voice"),
    "sambert-zhigui-v1": _zh(16000, _F, "Zhigui, live-stream female voice"),
    "sambert-zhishuo-v1": _zh(16000, _M, "Zhishuo, natural male voice"),
    "sambert-zhimiao-emo-v1": _zh(16000, _F, "Zhimiao, female voice with several emotions"),
    "sambert-zhimao-v1": _zh(16000, _F, "Zhimao, live-stream female voice"),
    "sambert-zhilun-v1": _zh(16000, _M, "Zhilun, suspense narrator male voice"),
    "sambert-zhifei-v1": _zh(16000, _M, "Zhifei, rousing narrator male voice"),
    "sambert-zhida-v1": _zh(16000, _M, "Zhida, standard news male voice"),
    # one language each, 16 kHz
    "sambert-camila-v1": _one("es", _F, "Camila, Spanish female voice"),
    "sambert-perla-v1": _one("it", _F, "Perla, Italian female voice"),
    "sambert-indah-v1": _one("id", _F, "Indah, Indonesian female voice"),
    "sambert-clara-v1": _one("fr", _F, "Clara, French female voice"),
    "sambert-hanna-v1": _one("de", _F, "Hanna, German female voice"),
    "sambert-beth-v1": _one("en", _F, "Beth, US English consulting female voice"),
    "sambert-betty-v1": _one("en", _F, "Betty, US English customer-service female voice"),
    "sambert-cally-v1": _one("en", _F, "Cally, US English natural female voice"),
    "sambert-cindy-v1": _one("en", _F, "Cindy, US English conversational female voice"),
    "sambert-eva-v1": _one("en", _F, "Eva, US English companion female voice"),
    "sambert-donna-v1": _one("en", _F, "Donna, US English education female voice"),
    "sambert-brian-v1": _one("en", _M, "Brian, US English customer-service male voice"),
    "sambert-waan-v1": _one("th", _F, "Waan, Thai female voice"),
}
"""Every Sambert model by its ``model`` name (see the module docstring for the source)."""
