"""Label-free alignment of the presence decision (:class:`featbus.model.alignment.PresenceAlignment`)
and an adapted file's parent and promise.

Synthetic scores: ``logit p(lesion)`` of normal and lesion scans drawn from two normal laws, the
whole site shifted by a constant (a scanner's gain); the aligned threshold is compared with the
true quantile of the lesion scans it aims at. Tolerances: the quantile from 600 lesion scans is
known to about ``sqrt(q (1 - q) / n) / density``, so a threshold is compared on the share of lesion
scans it calls normal (within 0.01 of the aim), not on its digits.
"""

from __future__ import annotations

import numpy as np
import pytest

from featbus.model.alignment import MIN_NORMAL_IMAGES, PRESENCE_ALIGN_SHARE, PresenceAlignment


def _site(shift: float, *, n_normal: int = 150, n_lesion: int = 600, seed: int = 0):
    rng = np.random.default_rng(seed)
    normal = rng.normal(-1.0, 1.5, n_normal) + shift
    lesion = rng.normal(7.0, 1.5, n_lesion) + shift
    return normal, lesion


def _p(logit):
    return 1 / (1 + np.exp(-np.asarray(logit)))


@pytest.mark.parametrize("shift", [0.0, 2.0, -1.0])
def test_presence_alignment_recovers_a_shifted_threshold(shift):
    """Whatever the site's shift, the aligned threshold calls about the aimed share of its lesion
    scans normal (and most normal scans normal): it moves with the shift."""
    normal, lesion = _site(shift)
    al = PresenceAlignment.fit(_p(np.concatenate([normal, lesion])), stored_threshold=0.4)
    assert al.estimated and al.reason is None
    t = np.log(al.threshold / (1 - al.threshold))
    from scipy import stats

    true = 7.0 + shift + 1.5 * stats.norm.ppf(PRESENCE_ALIGN_SHARE)  # the threshold the aim means, by construction
    assert np.mean(lesion < t) == pytest.approx(PRESENCE_ALIGN_SHARE, abs=0.01)
    assert abs(t - true) < 0.5  # a logit: the fitted mean and spread of 600 lesion scans
    assert np.mean(normal < t) > 0.9
    assert al.normal_share == pytest.approx(normal.size / (normal.size + lesion.size), abs=0.03)
    record = al.to_record()
    assert record["threshold"] == al.threshold and record["assumptions"]


def test_a_site_of_lesion_scans_only_is_not_aligned_and_says_why():
    """Scores alone cannot tell lesion scans only from a shifted site: without images below the stored
    threshold beyond lesion misses, nothing moves; so for two groups that overlap."""
    _, lesion = _site(0.0)
    al = PresenceAlignment.fit(_p(lesion), stored_threshold=0.4)
    assert al.threshold is None and al.reason.startswith("the site's images show too few normal scans")
    assert al.assumptions()[0].startswith("not aligned: the site's images show too few normal scans")
    # two bunches of lesion scores (a spike and a spread) with a few images below: still not two groups of scans
    rng = np.random.default_rng(1)
    few = np.concatenate([rng.normal(-2, 0.5, MIN_NORMAL_IMAGES - 1), rng.normal(7, 1.5, 600)])
    assert PresenceAlignment.fit(_p(few), stored_threshold=0.4).threshold is None
    normal, lesion = rng.normal(2, 2, 200), rng.normal(4, 2, 400)  # normal scans below 0.4 exist, but overlap
    over = PresenceAlignment.fit(_p(np.concatenate([normal, lesion])), stored_threshold=0.4)
    assert over.threshold is None and ("overlap" in over.reason or "one group" in over.reason), over.reason
    small = PresenceAlignment.fit(_p(lesion[:20]), stored_threshold=0.4)
    assert small.threshold is None and small.reason.startswith("only 20 images")
    with pytest.raises(ValueError, match="p_lesion must hold probabilities"):
        PresenceAlignment.fit([0.5, 1.5], stored_threshold=0.4)


def test_align_points_moves_the_presence_threshold_and_keeps_the_rest():
    from featbus.metrics import OperatingPoint
    from featbus.workflows.adaptation import align_points

    stored = OperatingPoint(positive="malignant", threshold=0.2, target_sensitivity=0.9, absent="normal",
                            presence=OperatingPoint(positive="lesion", threshold=0.4))
    normal, lesion = _site(1.0)
    p_lesion = _p(np.concatenate([normal, lesion]))
    given = np.random.default_rng(0).uniform(0, 1, p_lesion.size)
    point, al, info = align_points(p_lesion, given, stored=stored)  # no reference: the malignancy score stays
    assert point.presence.threshold == info["presence"]["threshold"] > stored.presence.threshold
    assert point.threshold == stored.threshold and al is None
    assert info["reason"] == "the model has no reference of its training scores"
    with pytest.raises(ValueError):
        align_points(p_lesion, given, stored=stored, required=True)
