"""Local features and geometric verification: is this archive photo the same object as the query?

Why: global CNN descriptors (one vector per photo) rank photos of the same *kind* of equipment
close together, but cannot tell two look-alike insulator strings apart. Keypoints matched between
two photos and checked for one consistent geometric transformation can: a re-shot photo of the same
string shares tens of keypoints that move together, a look-alike shares a handful at random places.

What is stored: ORB keypoints (:data:`KEYPOINTS` at most) found on the photo turned greyscale and
scaled so that its longer side is at most :data:`MAX_SIDE` pixels: per keypoint its position as a
fraction of the image's width and height (two uint16) and its 256-bit binary descriptor, in one blob
with a version, the image size and a CRC-32 (:meth:`LocalFeatures.to_bytes`), about 10 KB per photo.

How two photos are compared (:func:`verify`): brute-force Hamming matching of descriptors with
Lowe's ratio test, then RANSAC fitting a similarity transformation (rotation, uniform scale,
translation; ``cv2.estimateAffinePartial2D``) to the matched positions. The number of matches it
keeps (the inliers, scaled down when they lie along one line) says how sure we are;
:data:`SAME_OBJECT_INLIERS` and more is "the same object", calibrated on pairs of different insulator
photos (``benchmarks/verification.py``, ``docs/quality.md``). ORB was chosen over SIFT by the
numbers in ``docs/quality.md``.

OpenCV is imported on first use, so importing the core stays light.
"""

from __future__ import annotations

import struct
import threading
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "CANDIDATES", "FORMAT_VERSION", "KEYPOINTS", "MAX_SIDE", "SAME_OBJECT_INLIERS", "LocalFeatures",
    "Verification", "extract", "verified_order", "verify",
]  # fmt: skip

FORMAT_VERSION = 1
MAX_SIDE = 480
"""Longer side (pixels) of the greyscale image keypoints are found in: more finds more of the same
texture, slower; at 480 px a 1 MP photo takes a few milliseconds."""
KEYPOINTS = 300
"""Keypoints kept per photo (ORB keeps the strongest by its Harris score)."""
RATIO = 0.75
"""Lowe's ratio test: a match is kept when its distance is below this fraction of the second best."""
RANSAC_PIXELS = 3.0
"""Largest distance (pixels, at the query's ``MAX_SIDE`` scale) of an inlier from where the fitted
transformation puts it."""
MIN_SPREAD = 0.02
"""Inliers count in full only when they spread across the image: the standard deviation of their
positions across their main direction, as a fraction of the image, at least this; below, their count
is scaled down in proportion. The repeated discs of one insulator string matched to another string's
lie along one line: without this, pairs of photos of different towers reached up to 53 inliers;
with it at most 8, while re-shots of a string photographed alone keep theirs
(``benchmarks/verification.py``)."""
MIN_MATCHES = 4
"""Fewer ratio-test matches than this cannot support a transformation: 0 inliers."""
SAME_OBJECT_INLIERS = 10
"""Inliers from which two photos are called the same object (the "same object" badge, ranked first)."""
RANSAC_SEED = 12345
CANDIDATES = 30
"""How many of the best matches of the global ranking a search verifies."""

_HEADER = struct.Struct("<BHHHI")  # version, keypoint count, width, height, CRC-32 of the rest
_DESCRIPTOR_BYTES = 32


@dataclass(frozen=True)
class LocalFeatures:
    """Keypoints of one photo: ``points`` (N, 2) float32 as fractions (x, y) of ``width`` and
    ``height`` (the size of the image they were found in), ``descriptors`` (N, 32) uint8."""

    width: int
    height: int
    points: np.ndarray
    descriptors: np.ndarray

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def to_bytes(self) -> bytes:
        """The compact stored form (see the module docstring)."""
        fixed = np.round(np.clip(self.points, 0.0, 1.0) * 65535).astype("<u2")
        body = fixed.tobytes() + np.ascontiguousarray(self.descriptors, dtype=np.uint8).tobytes()
        return _HEADER.pack(FORMAT_VERSION, len(self), self.width, self.height, zlib.crc32(body)) + body

    @classmethod
    def from_bytes(cls, data: bytes) -> LocalFeatures:
        """Read a stored blob; raises ``ValueError`` saying what is wrong with a damaged one."""
        if len(data) < _HEADER.size:
            raise ValueError(f"local features too short ({len(data)} bytes)")
        version, count, width, height, crc = _HEADER.unpack_from(data)
        if version != FORMAT_VERSION:
            raise ValueError(f"local features of unknown format version {version}")
        body = data[_HEADER.size:]
        if len(body) != count * (4 + _DESCRIPTOR_BYTES):
            raise ValueError(f"local features truncated ({len(body)} bytes for {count} keypoints)")
        if zlib.crc32(body) != crc:
            raise ValueError("local features damaged (checksum mismatch)")
        points = np.frombuffer(body, dtype="<u2", count=2 * count).reshape(count, 2).astype(np.float32) / 65535
        descriptors = np.frombuffer(body, dtype=np.uint8, offset=4 * count).reshape(count, _DESCRIPTOR_BYTES)
        return cls(width, height, points, descriptors)

    def pixels(self) -> np.ndarray:
        """Keypoint positions in pixels of the image they were found in."""
        return self.points * np.array([self.width, self.height], dtype=np.float32)


@dataclass(frozen=True)
class Verification:
    """Result of matching a query against one photo: ``inliers``, the number of matches one
    transformation explains, scaled down when they lie along a line (see :data:`MIN_SPREAD`; 0 when
    no transformation fits), and the matched positions that agree with it, as fractions of each
    image (for drawing)."""

    inliers: int
    query_points: np.ndarray  # (inliers, 2)
    match_points: np.ndarray  # (inliers, 2)

    @property
    def same_object(self) -> bool:
        return self.inliers >= SAME_OBJECT_INLIERS


NO_MATCH = Verification(0, np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32))

_detectors = threading.local()  # one ORB detector per thread (cv2 objects are not thread-safe)


def _cv2():
    import cv2  # deferred: ~0.1 s, and only adding and searching need it

    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)  # called from the decoding pool's threads: no second pool inside each
    return cv2


def _detector():
    detector = getattr(_detectors, "orb", None)
    if detector is None:
        detector = _detectors.orb = _cv2().ORB_create(nfeatures=KEYPOINTS)
    return detector


def extract(image: Image.Image) -> LocalFeatures:
    """ORB keypoints of a decoded photo (any mode). A blank, blurred or tiny photo may give few or
    none: it then simply never verifies, and search keeps its global ranking for it."""
    from PIL import Image as PILImage

    grey = image.convert("L")
    side = max(grey.size)
    if side > MAX_SIDE:
        factor = MAX_SIDE / side
        grey = grey.resize((max(1, round(grey.width * factor)), max(1, round(grey.height * factor))),
                           PILImage.Resampling.BILINEAR)
    pixels = np.asarray(grey, dtype=np.uint8)
    height, width = pixels.shape
    keypoints, descriptors = _detector().detectAndCompute(pixels, None)
    if descriptors is None or not keypoints:
        return LocalFeatures(width, height, np.zeros((0, 2), np.float32), np.zeros((0, _DESCRIPTOR_BYTES), np.uint8))
    points = np.array([kp.pt for kp in keypoints], dtype=np.float32) / np.array([width, height], np.float32)
    return LocalFeatures(width, height, points, descriptors)


def verify(query: LocalFeatures, candidate: LocalFeatures) -> Verification:
    """Match ``candidate``'s keypoints to the query's and count those a similarity transformation
    explains (see the module docstring)."""
    if len(query) < MIN_MATCHES or len(candidate) < MIN_MATCHES:
        return NO_MATCH
    cv2 = _cv2()
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(query.descriptors, candidate.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < MIN_MATCHES:
        return NO_MATCH
    q_index = np.fromiter((m.queryIdx for m in good), dtype=np.int64, count=len(good))
    c_index = np.fromiter((m.trainIdx for m in good), dtype=np.int64, count=len(good))
    # Both sides in pixels at the query's scale, so one pixel threshold fits any pair of resolutions.
    scale = np.array([query.width, query.height], dtype=np.float32)
    source = query.points[q_index] * scale
    target = candidate.points[c_index] * np.array([candidate.width, candidate.height], np.float32)
    target *= max(query.width, query.height) / max(candidate.width, candidate.height)
    cv2.setRNGSeed(RANSAC_SEED)  # the same pair always gives the same count
    _model, mask = cv2.estimateAffinePartial2D(source, target, method=cv2.RANSAC,
                                               ransacReprojThreshold=RANSAC_PIXELS, maxIters=500,
                                               confidence=0.99, refineIters=0)
    if mask is None:
        return NO_MATCH
    kept = mask.ravel().astype(bool)
    query_points = query.points[q_index[kept]]
    if len(query_points) < MIN_MATCHES:
        return NO_MATCH
    counted = int(len(query_points) * min(1.0, _spread(query_points) / MIN_SPREAD))
    return Verification(counted, query_points, candidate.points[c_index[kept]])


def _spread(points: np.ndarray) -> float:
    """Standard deviation of points across their main direction (0 for points on one line)."""
    centred = points - points.mean(axis=0)
    return float(np.linalg.svd(centred, compute_uv=False)[1] / np.sqrt(len(points)))


def verified_order(order: list[int], inliers: dict[int, int]) -> list[int]:
    """The final ranking: the photos verified as the same object (``inliers`` at least
    :data:`SAME_OBJECT_INLIERS`) first, most inliers first (ties keep ``order``), then every other
    photo in ``order``."""
    verified = [i for i in order if inliers.get(i, 0) >= SAME_OBJECT_INLIERS]
    verified.sort(key=lambda i: -inliers[i])  # stable: equal counts keep the global order
    chosen = set(verified)
    return verified + [i for i in order if i not in chosen]
