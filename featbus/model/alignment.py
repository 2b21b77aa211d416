"""Label-free alignment of a model's decision score to a site: what a model file stores, and applies.

A model's operating point is a threshold on one score (``p(malignant | lesion)`` for a
two-decision model, ``p(malignant)`` otherwise), chosen on the out-of-fold scores of its
training images. At another hospital the scores shift as a whole (gain, scanner, population),
and the same threshold then calls far more, or far fewer, lesions malignant, while the ranking
travels (issue 67: sensitivity 0.95 at specificity 0.40 at one site, 0.76 at 0.88 at another).

**Quantile alignment** (unsupervised prediction alignment) maps the site's scores onto the
training scores' distribution, from the site's *unlabelled* images: a site score ``s`` becomes
``R^-1(F_site(s))``, with ``F_site`` the site's empirical distribution and ``R`` the reference:
the training images' out-of-fold scores, as a mixture of their malignant and their other lesion
images at the share of malignant lesions the site is assumed to have,
``R = pi F_malignant + (1 - pi) F_other``. The map is monotone, so the ranking (the AUC) is
kept; the stored threshold then calls about the same share of the site's lesions malignant as
it called of the training lesions with that mix.

What it assumes, said wherever it is used:

* the site's images called a lesion hold malignant lesions in the share ``pi`` (by default the
  training images' own share, :attr:`ScoreReference.positive_share`; give the site's share
  when it is known, e.g. from its registry). A site with more malignant lesions than assumed
  is aligned too low (sensitivity falls), one with fewer too high (specificity falls). A
  monotone shift and a change of that share cannot be told apart from unlabelled scores alone;
* the images are the site's ordinary case mix, not a selection by diagnosis;
* enough of them: the site's quantiles come from its images, so with ``n`` images the share
  called malignant is off by about ``sqrt(0.25 / n)`` (0.07 at 50). Below
  :data:`MIN_ALIGN_IMAGES` images called a lesion, :meth:`ScoreAlignment.fit` refuses; below
  :data:`FEW_ALIGN_IMAGES` the alignment is made with a warning.

**The presence decision, aligned** (:class:`PresenceAlignment`). ``p(lesion)`` shifts too: at a
site with normal scans the segmenter draws a lesion in most of them, and the stored presence
threshold then calls few of them normal. Here the share of lesion images among the site's images
is unknown, and no reference of the training images' ``p(lesion)`` is stored, so the site's own
scores are read as a mixture of two groups: ``logit p(lesion)`` of its images is fitted with one
and with two normal components (EM, scikit-learn's ``GaussianMixture``), the upper component taken
as the lesion scans. The aligned threshold is where the upper component leaves
:data:`PRESENCE_ALIGN_SHARE` of the lesion scans below it. It assumes that the logits of lesion
and of normal scans are each about normal (the lower tail of the lesion scans is a model, not a
count: hence an aim of a tenth of adapt's 3 % cap), and that the images are the site's ordinary mix.
Saturated scores (``p(lesion)`` within :data:`SATURATED` of 1, where a logit means nothing) are
counted as lesion scans and left out of the fit. Scores alone cannot tell a site of lesion scans
only from one with normal scans (a mixture finds groups in any spread), so the site must first
show normal scans: at least :data:`MIN_NORMAL_IMAGES` of its images below the stored threshold,
more than its own lesion misses explain (a one-sided binomial test at 0.05, the misses at the
stored point's training share, at least :data:`LESION_MISS_RATE`). It cannot be estimated, and
the stored threshold stays, without that evidence, or when the site shows no second group:
fewer than :data:`MIN_ALIGN_IMAGES` images, two
components no better than one (BIC gain under :data:`MIN_BIC_GAIN`: a site of lesion scans only
looks like this), components closer than :data:`MIN_SEPARATION` pooled standard deviations, or
fewer than :data:`MIN_NORMAL_IMAGES` images in the lower one.

**The share of malignant lesions, estimated** (:func:`em_positive_share`): the EM of Saerens,
Latinne and Decaestecker (2002) re-estimates a class prior from posteriors alone, assuming the
scores mean at the site what they meant in training (a pure change of prior). Under a score
shift that assumption fails, so its estimate is printed as a diagnostic, and used only when asked.

References
----------
Saerens M, Latinne P, Decaestecker C. Adjusting the outputs of a classifier to new a priori
probabilities: a simple procedure. Neural Computation 14(1):21-41 (2002),
doi:10.1162/089976602753284446.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["ScoreReference", "ScoreAlignment", "PresenceAlignment", "em_positive_share", "LEVELS",
           "MIN_ALIGN_IMAGES", "FEW_ALIGN_IMAGES", "SHARE_FROM", "PRESENCE_ALIGN_SHARE", "MIN_BIC_GAIN",
           "MIN_SEPARATION", "MIN_NORMAL_IMAGES", "SATURATED", "LESION_MISS_RATE"]

#: Quantile levels a reference and an alignment store (201: every half percent).
LEVELS = np.linspace(0.0, 1.0, 201)
#: Fewest site images called a lesion (two decisions) or images (one) an alignment is fitted on:
#: below, :meth:`ScoreAlignment.fit` refuses (the site's quantiles would be a guess).
MIN_ALIGN_IMAGES = 30
#: Below this many, the alignment is made with a warning: the share called malignant is off by
#: about sqrt(0.25 / n), 0.05 at 100.
FEW_ALIGN_IMAGES = 100
#: Where the assumed share of malignant lesions comes from.
SHARE_FROM = ("training", "given", "estimated")
#: The share of the site's lesion scans the label-free presence threshold aims to call normal: a
#: tenth of adapt's 3 % cap, since the mixture's lower tail is a model, not a count, and malignant
#: lesions fall in it more often than benign ones (three times as often on the site of
#: ``benchmarks/site_calibration.py``, where an aim of 0.01 called up to 0.039 of the malignant
#: lesions normal; 0.003 up to 0.022).
PRESENCE_ALIGN_SHARE = 0.003
#: Least BIC gain of two components over one for the site to show two groups of scores.
MIN_BIC_GAIN = 10.0
#: Least distance between the two components' means, in pooled standard deviations (Ashman's D).
MIN_SEPARATION = 3.0
#: Fewest images the lower (normal) component must hold.
MIN_NORMAL_IMAGES = 10
#: The least share of lesion scans the stored presence threshold is taken to call normal, when
#: asking whether the images below it are more than lesion misses (the evidence of normal scans).
LESION_MISS_RATE = 0.01
#: ``p(lesion)`` within this of 0 or 1 is saturated: its logit means nothing (counted, not fitted).
SATURATED = 1e-6


def _quantiles(values) -> list[float]:
    v = np.asarray(values, dtype=float)
    return [round(float(x), 7) for x in np.quantile(v, LEVELS)]


def _scores(name: str, values) -> np.ndarray:
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise ValueError(f"{name}: no score")
    if not np.all(np.isfinite(v)) or v.min() < 0 or v.max() > 1:
        raise ValueError(f"{name} must hold probabilities in [0, 1]")
    return v


def _share(value, name: str = "positive_share") -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class ScoreReference:
    """The training images' out-of-fold decision scores, as quantiles (what alignment maps onto).

    Parameters
    ----------
    positive : str
        The class the score is the probability of (``"malignant"``).
    absent : str or None
        A two-decision model's "no lesion" class (the score is then ``p(positive | lesion)`` of
        lesion images); ``None``: the score is ``p(positive)`` of every image.
    positive_quantiles, other_quantiles : sequence of float
        The scores' quantiles at :data:`LEVELS`, of the positive images and of the others.
    n_positive, n_other : int
        How many images each rests on.
    source : str
        Where the scores come from (``"out-of-fold probabilities of 1575 training lesion images"``).

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.alignment import ScoreReference
    >>> rng = np.random.default_rng(0)
    >>> y = np.array(["malignant"] * 30 + ["benign"] * 70)
    >>> q = np.where(y == "malignant", rng.uniform(0.3, 1, 100), rng.uniform(0, 0.6, 100))
    >>> ref = ScoreReference.from_scores(q, y, positive="malignant", source="an example")
    >>> ref.positive_share, len(ref.positive_quantiles)
    (0.3, 201)
    >>> ScoreReference.from_record(ref.to_record()) == ref
    True
    """

    positive: str
    absent: str | None
    positive_quantiles: tuple
    other_quantiles: tuple
    n_positive: int
    n_other: int
    source: str = ""

    @property
    def positive_share(self) -> float:
        """The share of positive images among the reference's images."""
        return self.n_positive / (self.n_positive + self.n_other)

    @property
    def score(self) -> str:
        """The score's name in words: ``"p(malignant | lesion)"`` or ``"p(malignant)"``."""
        return f"p({self.positive} | lesion)" if self.absent is not None else f"p({self.positive})"

    @classmethod
    def from_scores(cls, scores, y_true, *, positive: str, absent: str | None = None,
                    source: str = "") -> ScoreReference:
        """The reference of labelled scores: of a two-decision model (``absent`` given) the lesion
        images' ``p(positive | lesion)`` (images labelled ``absent`` are left out), else every
        image's ``p(positive)``.

        Raises
        ------
        ValueError
            Scores outside [0, 1], lengths that differ, no positive or no other image.
        """
        s = _scores("scores", scores)
        y = np.asarray(y_true).astype(str).ravel()
        if y.size != s.size:
            raise ValueError(f"scores has {s.size} entries for {y.size} labels")
        keep = np.ones(y.size, bool) if absent is None else y != str(absent)
        pos, other = keep & (y == str(positive)), keep & (y != str(positive))
        if not pos.any() or not other.any():
            raise ValueError(f"the reference needs {positive!r} images and others; got {int(pos.sum())} and "
                             f"{int(other.sum())}")
        return cls(positive=str(positive), absent=None if absent is None else str(absent),
                   positive_quantiles=tuple(_quantiles(s[pos])), other_quantiles=tuple(_quantiles(s[other])),
                   n_positive=int(pos.sum()), n_other=int(other.sum()), source=str(source))

    def mixture_quantiles(self, share: float) -> np.ndarray:
        """The quantiles at :data:`LEVELS` of ``share * F_positive + (1 - share) * F_other``."""
        share = _share(share, "share")
        grid = np.unique(np.concatenate([self.positive_quantiles, self.other_quantiles]))
        cdf = (share * np.interp(grid, self.positive_quantiles, LEVELS, left=0.0, right=1.0)
               + (1 - share) * np.interp(grid, self.other_quantiles, LEVELS, left=0.0, right=1.0))
        cdf = np.maximum.accumulate(cdf)
        return np.interp(LEVELS, cdf, grid)

    def to_record(self) -> dict[str, Any]:
        """JSON-ready (a model file's ``manifest["score_reference"]``)."""
        return {"score": self.score, "positive": self.positive, "absent": self.absent,
                "levels": int(LEVELS.size), "positive_quantiles": list(self.positive_quantiles),
                "other_quantiles": list(self.other_quantiles), "n_positive": self.n_positive,
                "n_other": self.n_other, "positive_share": round(self.positive_share, 6), "source": self.source}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ScoreReference:
        """Back from :meth:`to_record`.

        Raises
        ------
        ValueError
            A record of another number of levels, or quantiles that are not probabilities.
        """
        if int(record.get("levels", -1)) != LEVELS.size:
            raise ValueError(f"a score reference of {record.get('levels')!r} quantile levels; featbus reads "
                             f"{LEVELS.size}")
        pos = _scores("positive_quantiles", record["positive_quantiles"])
        other = _scores("other_quantiles", record["other_quantiles"])
        if pos.size != LEVELS.size or other.size != LEVELS.size:
            raise ValueError(f"a score reference needs {LEVELS.size} quantiles per class")
        return cls(positive=str(record["positive"]), absent=record.get("absent"),
                   positive_quantiles=tuple(float(x) for x in pos), other_quantiles=tuple(float(x) for x in other),
                   n_positive=int(record["n_positive"]), n_other=int(record["n_other"]),
                   source=str(record.get("source", "")))


def em_positive_share(scores, prior: float, *, max_iter: int = 1000, tol: float = 1e-8) -> float:
    """The share of positives among images whose posteriors ``scores`` were fitted at ``prior``:
    the EM of Saerens, Latinne and Decaestecker (2002).

    Each step re-weights every posterior by the ratio of the new and the training prior and
    takes the mean as the new prior, until it moves less than ``tol``. It assumes a pure change
    of prior: the scores mean at the site what they meant in training.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.alignment import em_positive_share
    >>> rng = np.random.default_rng(0)
    >>> y = rng.uniform(size=4000) < 0.6                     # 60 % positives at the site ...
    >>> x = np.where(y, rng.normal(1, 1, 4000), rng.normal(-1, 1, 4000))
    >>> post = 0.3 * np.exp(2 * x) / (0.3 * np.exp(2 * x) + 0.7)  # the posterior of a model fitted at 30 %
    >>> round(em_positive_share(post, 0.3), 1)
    0.6
    """
    p = np.clip(_scores("scores", scores), 1e-12, 1 - 1e-12)
    prior = _share(prior, "prior")
    share = prior
    for _ in range(max_iter):
        w1, w0 = share / prior * p, (1 - share) / (1 - prior) * (1 - p)
        new = float(np.mean(w1 / (w1 + w0)))
        if abs(new - share) < tol:
            return new
        share = new
    return share


@dataclasses.dataclass(frozen=True)
class ScoreAlignment:
    """A monotone map of a model's decision score onto its training distribution, fitted on a site.

    Stored in a model file (``manifest["score_alignment"]``) by :func:`featbus.adapt` without
    labels; :meth:`featbus.model.FeatbusModel.predict_proba` applies it (:meth:`apply`), so
    every decision at the stored operating point, and every probability, is on the training
    scale. See :mod:`featbus.model.alignment` for what it assumes.

    Parameters
    ----------
    positive, absent : str, str or None
        As :class:`ScoreReference`.
    site_quantiles, reference_quantiles : sequence of float
        The site's scores' and the reference mixture's quantiles at :data:`LEVELS`: the map
        is the piecewise-linear function through ``(site, reference)`` pairs, constant beyond.
    n_images : int
        The site images it was fitted on (two decisions: those called a lesion).
    positive_share : float
        The share of positive (malignant) lesions assumed at the site.
    share_from : {"training", "given", "estimated"}
        Where that share comes from.
    em_share : float or None
        The EM estimate of the share from the site's scores as they were (a diagnostic).

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.alignment import ScoreAlignment, ScoreReference
    >>> rng = np.random.default_rng(0)
    >>> y = np.array(["malignant"] * 300 + ["benign"] * 700)
    >>> train = np.where(y == "malignant", rng.beta(5, 2, 1000), rng.beta(2, 5, 1000))
    >>> ref = ScoreReference.from_scores(train, y, positive="malignant")
    >>> site = np.where(y == "malignant", rng.beta(5, 2, 1000), rng.beta(2, 5, 1000)) ** 3  # shifted down
    >>> al = ScoreAlignment.fit(site, ref)
    >>> t = 0.5
    >>> round(float(np.mean(train >= t)), 2), round(float(np.mean(site >= t)), 2), \
round(float(np.mean(al.map(site) >= t)), 2)
    (0.37, 0.11, 0.36)
    """

    positive: str
    absent: str | None
    site_quantiles: tuple
    reference_quantiles: tuple
    n_images: int
    positive_share: float
    share_from: str = "training"
    em_share: float | None = None
    reference_source: str = ""

    @property
    def score(self) -> str:
        return f"p({self.positive} | lesion)" if self.absent is not None else f"p({self.positive})"

    @classmethod
    def fit(cls, scores, reference: ScoreReference, *, positive_share: float | None = None,
            estimate_share: bool = False) -> ScoreAlignment:
        """Fit the map from a site's scores (unlabelled).

        Parameters
        ----------
        scores : array-like of shape (n_images,)
            The site's decision scores as the model gives them (two decisions: ``p(positive |
            lesion)`` of its images called a lesion).
        reference : ScoreReference
        positive_share : float in (0, 1), optional
            The site's share of positive (malignant) lesions, when known; default the
            reference's own share (or the EM estimate with ``estimate_share``).
        estimate_share : bool, default=False
            Take the share from :func:`em_positive_share` on the site's scores (assumes no
            score shift: see the module docstring).

        Raises
        ------
        ValueError
            Fewer than :data:`MIN_ALIGN_IMAGES` scores (refused: the site's quantiles would be a
            guess), scores outside [0, 1], a bad share, or both a share and ``estimate_share``.
        """
        s = _scores("scores", scores)
        if s.size < MIN_ALIGN_IMAGES:
            raise ValueError(f"aligning the scores to the site needs at least {MIN_ALIGN_IMAGES} of its images"
                             f"{' called a lesion' if reference.absent is not None else ''}, got {s.size}: with so "
                             "few, the site's quantiles are a guess; give more of the site's ordinary images")
        em = em_positive_share(s, reference.positive_share)
        if positive_share is not None and estimate_share:
            raise ValueError("give positive_share or estimate_share, not both")
        if positive_share is not None:
            share, where = _share(positive_share), "given"
        elif estimate_share:
            share, where = min(max(em, 0.01), 0.99), "estimated"
        else:
            share, where = reference.positive_share, "training"
        return cls(positive=reference.positive, absent=reference.absent, site_quantiles=tuple(_quantiles(s)),
                   reference_quantiles=tuple(round(float(x), 7) for x in reference.mixture_quantiles(share)),
                   n_images=int(s.size), positive_share=float(share), share_from=where, em_share=float(em),
                   reference_source=reference.source)

    def map(self, scores) -> np.ndarray:
        """The aligned scores: monotone (non-decreasing) in the site's scores, in [0, 1]."""
        s = np.asarray(scores, dtype=float)
        xp, fp = np.asarray(self.site_quantiles), np.asarray(self.reference_quantiles)
        # equal site quantiles (ties) would make the map jump there: keep one point per value, the mean of its images
        ux, inverse = np.unique(xp, return_inverse=True)
        uf = np.bincount(inverse, weights=fp) / np.bincount(inverse)
        return np.clip(np.interp(s, ux, np.maximum.accumulate(uf)), 0.0, 1.0)

    def apply(self, proba, classes: Sequence) -> np.ndarray:
        """Class probabilities with the decision score aligned; the other classes keep their
        proportions (and a two-decision model its ``p(lesion)``). Rows still sum to 1.

        Raises
        ------
        ValueError
            A class of the alignment missing from ``classes``.
        """
        P = np.array(proba, dtype=float, copy=True)
        names = [str(c) for c in np.asarray(classes).tolist()]
        for c in (self.positive, self.absent):
            if c is not None and c not in names:
                raise ValueError(f"the score alignment's class {c!r} is not one of the model's ({', '.join(names)})")
        if P.size == 0:
            return P
        j = names.index(self.positive)
        others = [k for k in range(len(names)) if k != j and names[k] != self.absent]
        mass = 1.0 - P[:, names.index(self.absent)] if self.absent is not None else np.ones(len(P))
        safe = np.where(mass > 0, mass, 1.0)
        score = np.where(mass > 0, P[:, j] / safe, 0.0)
        new = self.map(score)
        rest = P[:, others].sum(axis=1)
        for k in others:  # the other classes share what is left in their old proportions (equally from nothing)
            part = np.where(rest > 0, P[:, k] / np.where(rest > 0, rest, 1.0), 1.0 / max(len(others), 1))
            P[:, k] = mass * (1 - new) * part
        P[:, j] = mass * new
        return P

    def assumptions(self) -> list[str]:
        """What the alignment assumes and rests on, one sentence each."""
        where = {"training": "the training images' own share (no share given)",
                 "given": "given for this site",
                 "estimated": "estimated from the site's scores by EM (Saerens et al. 2002), which assumes they "
                              "are not shifted"}[self.share_from]
        what = "lesions" if self.absent is not None else "images"
        out = [f"the site's {what} are {self.positive} in a share of {self.positive_share:.2f} ({where}): a site "
               f"with more {self.positive} {what} than that is aligned too low (sensitivity falls), one with fewer "
               "too high (specificity falls)",
               f"the {self.n_images} images are the site's ordinary case mix, not chosen by diagnosis"
               + (f" (the images called a lesion: {self.positive} vs other lesions)" if self.absent else "")]
        if self.em_share is not None:
            out.append(f"EM on the site's scores as they were estimates a share of {self.em_share:.2f} (valid only "
                       "if the scores are not shifted, which alignment exists for)")
        if self.n_images < FEW_ALIGN_IMAGES:
            out.append(f"only {self.n_images} images (fewer than {FEW_ALIGN_IMAGES}): the share called {self.positive} "
                       f"is off by about {math.sqrt(0.25 / self.n_images):.2f} from the sampling alone")
        return out

    def to_record(self) -> dict[str, Any]:
        """JSON-ready (a model file's ``manifest["score_alignment"]``)."""
        return {"method": "quantile", "score": self.score, "positive": self.positive, "absent": self.absent,
                "levels": int(LEVELS.size), "site_quantiles": list(self.site_quantiles),
                "reference_quantiles": list(self.reference_quantiles), "n_images": self.n_images,
                "positive_share": self.positive_share, "share_from": self.share_from, "em_share": self.em_share,
                "reference_source": self.reference_source, "assumptions": self.assumptions()}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ScoreAlignment:
        """Back from :meth:`to_record`.

        Raises
        ------
        ValueError
            Another method or number of levels, quantiles that are not probabilities.
        """
        if record.get("method") != "quantile" or int(record.get("levels", -1)) != LEVELS.size:
            raise ValueError(f"a score alignment of method {record.get('method')!r} with {record.get('levels')!r} "
                             f"levels; featbus reads method 'quantile' with {LEVELS.size}")
        site = _scores("site_quantiles", record["site_quantiles"])
        ref = _scores("reference_quantiles", record["reference_quantiles"])
        if site.size != LEVELS.size or ref.size != LEVELS.size:
            raise ValueError(f"a score alignment needs {LEVELS.size} site and reference quantiles")
        share_from = str(record.get("share_from", "training"))
        if share_from not in SHARE_FROM:
            raise ValueError(f"share_from must be one of {', '.join(SHARE_FROM)}, got {share_from!r}")
        em = record.get("em_share")
        return cls(positive=str(record["positive"]), absent=record.get("absent"),
                   site_quantiles=tuple(float(x) for x in site), reference_quantiles=tuple(float(x) for x in ref),
                   n_images=int(record["n_images"]), positive_share=float(record["positive_share"]),
                   share_from=share_from, em_share=None if em is None else float(em),
                   reference_source=str(record.get("reference_source", "")))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, SATURATED, 1 - SATURATED)
    return np.log(p / (1 - p))


@dataclasses.dataclass(frozen=True)
class PresenceAlignment:
    """The presence threshold (``p(lesion)``) aligned to a site's unlabelled images, or why it cannot be.

    Fitted by :meth:`fit` (see :mod:`featbus.model.alignment` for what it assumes); a model file
    stores its :attr:`threshold` as the presence point's (``manifest["operating_point"]``) and
    this record in ``manifest["adaptation"]["alignment"]["presence"]``.

    Parameters
    ----------
    threshold : float or None
        The aligned threshold on ``p(lesion)``; ``None`` when it cannot be estimated (``reason``).
    stored_threshold : float
        The threshold before (what stays when it cannot be estimated).
    n_images : int
        The site's images it read (saturated ones included).
    reason : str or None
        Why it cannot be estimated, in words.
    normal_share : float or None
        The share of the images the lower component holds (the site's normal scans, estimated).
    components : dict or None
        The fit in logits: ``lesion`` and ``normal`` ``[mean, sd]``, ``separation``, ``bic_gain``,
        ``n_saturated``.
    aim : float
        The share of the lesion scans the threshold aims to call normal.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.alignment import PresenceAlignment
    >>> rng = np.random.default_rng(0)
    >>> logit = np.concatenate([rng.normal(0, 1.5, 100), rng.normal(8, 1.5, 400)])  # 100 normal, 400 lesion
    >>> al = PresenceAlignment.fit(1 / (1 + np.exp(-logit)), stored_threshold=0.4)
    >>> t = np.log(al.threshold / (1 - al.threshold))          # back to a logit
    >>> below = float(np.mean(logit[100:] < t)), float(np.mean(logit[:100] < t))  # lesions, normals called normal
    >>> round(al.normal_share, 2), round(al.threshold, 3), below
    (0.21, 0.982, (0.0125, 1.0))
    >>> PresenceAlignment.fit(1 / (1 + np.exp(-logit[100:])), stored_threshold=0.4).reason  # lesion scans only
    "the site's images show too few normal scans to align on: 0 of 400 lie below the stored threshold 0.4, ..."
    """

    threshold: float | None
    stored_threshold: float
    n_images: int
    reason: str | None = None
    normal_share: float | None = None
    components: dict | None = None
    aim: float = PRESENCE_ALIGN_SHARE

    @property
    def estimated(self) -> bool:
        return self.threshold is not None

    @classmethod
    def fit(cls, p_lesion, *, stored_threshold: float, stored_sensitivity: float | None = None,
            aim: float = PRESENCE_ALIGN_SHARE, random_state: int = 0) -> PresenceAlignment:
        """Fit on a site's ``p(lesion)`` (unlabelled); never raises for a site it cannot read: the
        result then has no threshold and says why.

        ``stored_sensitivity``: the share of the training lesion images the stored threshold calls
        a lesion (its misses, at least :data:`LESION_MISS_RATE`, are what the images below it must
        exceed to show normal scans).

        Raises
        ------
        ValueError
            Scores outside [0, 1], a bad ``aim``.
        """
        from scipy import stats
        from sklearn.mixture import GaussianMixture

        p = _scores("p_lesion", p_lesion)
        aim = _share(aim, "aim")
        base = {"stored_threshold": float(stored_threshold), "n_images": int(p.size), "aim": aim}
        if p.size < MIN_ALIGN_IMAGES:
            return cls(None, reason=f"only {p.size} images (fewer than {MIN_ALIGN_IMAGES})", **base)
        miss = max(LESION_MISS_RATE, 1 - stored_sensitivity if stored_sensitivity is not None else 0.0)
        below = int(np.sum(p < stored_threshold))
        if below < MIN_NORMAL_IMAGES or stats.binom.sf(below - 1, p.size, miss) >= 0.05:
            why = (f"fewer than {MIN_NORMAL_IMAGES}" if below < MIN_NORMAL_IMAGES else
                   f"as many as lesion misses alone ({miss:g} of the lesion scans) could give")
            return cls(None, reason=f"the site's images show too few normal scans to align on: {below} of {p.size} "
                                    f"lie below the stored threshold {stored_threshold:.4g}, {why}; a site of "
                                    "lesion scans only cannot be told from a shifted one", **base)
        saturated = p >= 1 - SATURATED
        z = _logit(p[~saturated]).reshape(-1, 1)
        if z.shape[0] < MIN_ALIGN_IMAGES:
            return cls(None, reason=f"{int(saturated.sum())} of the {p.size} images have p(lesion) saturated at 1: "
                                    "no spread to read two groups from", **base)
        one = GaussianMixture(1, random_state=random_state).fit(z)
        two = GaussianMixture(2, n_init=3, reg_covar=1e-3, random_state=random_state).fit(z)
        order = np.argsort(two.means_.ravel())
        mean, sd = two.means_.ravel()[order], np.sqrt(two.covariances_.ravel()[order])
        weight = two.weights_[order] * z.shape[0]  # images in each component (unsaturated)
        gain = float(one.bic(z) - two.bic(z))
        separation = float((mean[1] - mean[0]) / math.sqrt((sd[0] ** 2 + sd[1] ** 2) / 2))
        comp = {"normal": [float(mean[0]), float(sd[0])], "lesion": [float(mean[1]), float(sd[1])],
                "separation": separation, "bic_gain": gain, "n_saturated": int(saturated.sum())}
        reason = None
        if gain < MIN_BIC_GAIN:
            reason = (f"the site's scores show one group, not two (two components gain {gain:.1f} in BIC, under "
                      f"{MIN_BIC_GAIN:g}): a site of lesion scans only, or normal scans not told apart")
        elif separation < MIN_SEPARATION:
            reason = (f"the two groups of scores overlap ({separation:.1f} pooled standard deviations apart, under "
                      f"{MIN_SEPARATION:g}): normal scans are not told apart from lesion scans")
        elif weight[0] < MIN_NORMAL_IMAGES:
            reason = f"the lower group holds about {weight[0]:.0f} images (fewer than {MIN_NORMAL_IMAGES})"
        if reason:
            return cls(None, reason=reason, components=comp, **base)
        lesions = weight[1] + saturated.sum()  # saturated scores count as lesion scans, above any threshold
        level = min(aim * lesions / weight[1], 1 - 1e-9)
        t = float(1 / (1 + math.exp(-(mean[1] + sd[1] * stats.norm.ppf(level)))))
        return cls(round(t, 7), normal_share=float(weight[0] / p.size), components=comp, **base)

    def assumptions(self) -> list[str]:
        """What the aligned threshold assumes, one sentence each."""
        if not self.estimated:
            return [f"not aligned: {self.reason}; the presence threshold stays {self.stored_threshold:.4g}"]
        return [f"the site's {self.n_images} images are its ordinary mix of normal and lesion scans; logit p(lesion) "
                f"of each is about normal: two components fitted, the lower ({self.normal_share:.2f} of the images) "
                "taken as the normal scans",
                f"the threshold leaves {self.aim:g} of the upper component (the lesion scans) below it: a model of "
                "its lower tail, not a count; labelled patients check it (featbus adapt --labels)"]

    def to_record(self) -> dict[str, Any]:
        """JSON-ready (an adaptation record's ``alignment["presence"]``)."""
        return {"method": "two-component mixture of logit p(lesion)", "threshold": self.threshold,
                "stored_threshold": self.stored_threshold, "n_images": self.n_images, "reason": self.reason,
                "normal_share": self.normal_share, "components": self.components, "aim": self.aim,
                "assumptions": self.assumptions()}
