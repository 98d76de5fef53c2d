"""The product catalogue: stock codes with stable descriptions, usual prices and pack sizes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from custseg.synth.draws import log_uniform, stream

#: Catalogue sizes: about 1.5 products per customer (enough lines per product for robust
#: per-product statistics), between these bounds (whale orders need ~900 distinct products).
_CATALOGUE_MIN, _CATALOGUE_MAX = 1009, 3001
_PACKS = np.array([1, 2, 3, 4, 6, 8, 12])
_PRICE_JITTER, _PRICE_JITTER_MAX = 0.05, 0.12
_SPECIAL_CODES = ("POST", "M")
_SPECIAL_DESCRIPTIONS = ("POSTAGE", "Manual")
_COLOURS = ("RED", "BLUE", "PINK", "GREEN", "WHITE", "IVORY", "BLACK", "GOLD", "SILVER",
            "PASTEL", "VINTAGE", "RETRO")
_MOTIFS = ("RETROSPOT", "HEART", "STAR", "SPOTTY", "PAISLEY", "FLORAL", "BIRD", "SKULL",
           "DOILY", "REGENCY", "CHRISTMAS", "POLKADOT", "STRIPE", "LACE", "ROSE")
_NOUNS = ("T-LIGHT HOLDER", "CAKE STAND", "LUNCH BAG", "JUMBO BAG", "MUG", "TEACUP",
          "PHOTO FRAME", "DOORMAT", "CANDLE", "NAPKINS", "PAPER CHAIN KIT", "BUNTING",
          "NOTEBOOK", "PURSE", "CUSHION COVER", "HOT WATER BOTTLE", "LANTERN", "CLOCK",
          "COAT HANGER", "SIGN", "TIN", "BOWL", "PLATE", "JAR", "BASKET", "BOX",
          "WRAP", "GIFT TAPE", "CAKE CASES", "STICKERS", "PEN", "MAGNET", "KEYRING",
          "HANGING DECORATION", "BELL", "GARLAND", "PARASOL", "UMBRELLA", "APRON", "TRAY")


@dataclass(frozen=True)
class Catalogue:
    """Products 0..size-1, then POSTAGE (:attr:`postage`) and Manual (:attr:`manual`)."""

    codes: pa.Array  # stock codes of the products, then POST, M
    descriptions: pa.Array
    price: np.ndarray  # usual unit price per product
    pack: np.ndarray  # units per pack
    bulk: np.ndarray  # products sold by 12 (indices)

    @property
    def size(self) -> int:
        """Number of products (POST and M excluded)."""
        return len(self.price)

    @property
    def postage(self) -> int:
        return self.size

    @property
    def manual(self) -> int:
        return self.size + 1

    def prices(self, rng: np.random.Generator, products: np.ndarray) -> np.ndarray:
        """Unit prices of lines of these products: the usual price ±12 % at most."""
        usual = self.price[products]
        jitter = np.clip(rng.normal(0, _PRICE_JITTER, len(usual)), -_PRICE_JITTER_MAX,
                         _PRICE_JITTER_MAX)
        return np.round(usual * (1 + jitter), 2)


def catalogue_size(customers: int) -> int:
    """A prime (so that any stride in 1..P-1 walks P distinct products) near 1.5 × customers."""
    n = int(np.clip(1.5 * customers, _CATALOGUE_MIN, _CATALOGUE_MAX))
    while any(n % d == 0 for d in range(2, int(n**0.5) + 1)):
        n += 1
    return n


def make_catalogue(seed: int, customers: int) -> Catalogue:
    """The catalogue for a data set of ``customers`` customers (random stream 0)."""
    rng = stream(seed, 0)
    n = catalogue_size(customers)
    numbers = np.sort(rng.choice(np.arange(10_000, 90_000), n, replace=False)).astype(str)
    suffix = np.where(rng.random(n) < 0.15, rng.choice(list("ABCDEFG"), n), "")
    codes = np.char.add(numbers, suffix)
    combo = rng.choice(len(_COLOURS) * len(_MOTIFS) * len(_NOUNS), n, replace=False)
    words = [np.array(w)[i] for w, i in zip(
        (_COLOURS, _MOTIFS, _NOUNS),
        (combo // (len(_MOTIFS) * len(_NOUNS)), (combo // len(_NOUNS)) % len(_MOTIFS),
         combo % len(_NOUNS)), strict=True)]
    descriptions = np.char.add(np.char.add(np.char.add(words[0], " "), words[1]), " ")
    descriptions = np.char.add(descriptions, words[2])
    # Prices stay >= 0.40 so that, with 5 % jitter, cent rounding never makes a product's
    # price MAD zero (a robust detector would then flag every other line).
    cheap = rng.random(n) < 0.3
    price = np.where(cheap, rng.uniform(0.40, 0.85, n), log_uniform(rng, 0.40, 10.0, n))
    price = np.maximum(np.round(price * 20) / 20, 0.40)
    ratio = log_uniform(rng, 3.0, 10.0, n) / price
    pack = _PACKS[np.abs(np.log(ratio)[:, None] - np.log(_PACKS)[None, :]).argmin(axis=1)]
    pack = np.where(cheap, 12, pack)
    return Catalogue(
        codes=pa.array([*codes.tolist(), *_SPECIAL_CODES], pa.string()),
        descriptions=pa.array([*descriptions.tolist(), *_SPECIAL_DESCRIPTIONS], pa.string()),
        price=price,
        pack=pack,
        bulk=np.flatnonzero(pack >= 12),
    )
