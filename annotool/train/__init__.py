"""Training, prediction and the models: the part of annotool that needs PyTorch.

Install it with ``pip install 'annotool[train]'``. This package itself imports nothing, so
:mod:`annotool.train.options` (what a run takes, and its defaults) can be read without
torch, by the CLI among others; every other module here imports torch.

A run, in the order :func:`annotool.train.loop.train` reads: ``options`` -> ``setup``
(dataset, classes, working size, model config, resume) -> ``data`` (crops, validation
images) -> ``model``/``encoders`` -> ``engine`` (one step, the weight average,
validation) -> ``state`` (where the run stands, saved and restored together) ->
``checkpoint``, ``history``. Inference (``inference``: the working size, the predictor)
imports nothing of training; ``predict`` writes its results.
"""
