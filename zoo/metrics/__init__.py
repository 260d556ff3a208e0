"""Evaluation: FID/KID/IS and precision/recall through torchmetrics and torch-fidelity, feature extractors
(Inception and small domain classifiers shipped with zoo), likelihood (importance-weighted NLL, bits/dim),
and ``zoo evaluate`` (zoo/metrics/evaluate.py).

    from zoo.metrics import SampleQuality, get_extractor
    quality = SampleQuality(get_extractor("digits_cls"), ["fid", "kid"])
    quality.update(real_images, real=True)
    quality.update(model.sample(1000), real=False)
    quality.compute(seed=0)        # {"fid_digits_cls": ..., "kid_digits_cls": ..., "kid_digits_cls_std": ...}

The likelihood functions live in zoo/distributions.py (methods use them too) and are re-exported here; the
rest is imported on first use, which keeps torchmetrics' image metrics and torch-fidelity out of
``import zoo``.
"""
from zoo.distributions import (
    bits_per_dim,
    diagonal_gaussian_log_density,
    importance_weighted_log_likelihood,
    standard_normal_log_density,
)

_LAZY = {
    "ClassifierFeatures": "zoo.metrics.features",
    "FeatureExtractor": "zoo.metrics.features",
    "FeatureView": "zoo.metrics.features",
    "SampleQuality": "zoo.metrics.sample_quality",
    "fid_metric": "zoo.metrics.sample_quality",
    "is_metric": "zoo.metrics.sample_quality",
    "kid_metric": "zoo.metrics.sample_quality",
    "precision_recall": "zoo.metrics.sample_quality",
    "get_extractor": "zoo.metrics.extractors",
    "list_extractors": "zoo.metrics.extractors",
    "evaluate": "zoo.metrics.evaluate",
    "evaluate_codes": "zoo.metrics.codes",
    "linear_probe": "zoo.metrics.probe",
    "evaluate_probe": "zoo.metrics.probe",
    "mmd2_unbiased": "zoo.metrics.two_sample",
    "evaluate_class_kept": "zoo.metrics.reconstruction",
}

#: evaluators of the scores a method declares in ``extra_metrics`` (zoo/methods/base.py), by name:
#: ``(model, *, data) -> {"metrics": {...}, "protocol": {...}}``, as "module:function" so nothing loads early
MODEL_METRICS = {"code_accuracy": "zoo.metrics.codes:evaluate_codes",
                 "prior_mmd": "zoo.metrics.two_sample:evaluate_prior_match",
                 "class_kept": "zoo.metrics.reconstruction:evaluate_class_kept",
                 "disentanglement": "zoo.metrics.disentanglement:evaluate_disentanglement"}


def model_metric(name: str):
    """The evaluator of ``MODEL_METRICS[name]``; an unknown name is one ConfigError listing the known ones."""
    import importlib

    if name not in MODEL_METRICS:
        from zoo.errors import ConfigError

        raise ConfigError(f"unknown model metric {name!r}; known: {', '.join(sorted(MODEL_METRICS))}")
    module, function = MODEL_METRICS[name].split(":")
    return getattr(importlib.import_module(module), function)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo.metrics' has no attribute {name!r}")


__all__ = [
    "ClassifierFeatures",
    "FeatureExtractor",
    "FeatureView",
    "SampleQuality",
    "bits_per_dim",
    "diagonal_gaussian_log_density",
    "evaluate",
    "evaluate_codes",
    "evaluate_probe",
    "fid_metric",
    "get_extractor",
    "importance_weighted_log_likelihood",
    "is_metric",
    "kid_metric",
    "linear_probe",
    "list_extractors",
    "mmd2_unbiased",
    "model_metric",
    "precision_recall",
    "standard_normal_log_density",
]
