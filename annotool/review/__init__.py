"""``annotool review``: the likely annotation mistakes, near-duplicate photos and split
leaks of a labelme dataset, found with out-of-fold models trained by ``annotool train``.

Above :mod:`annotool.train` (whose trainer and predictor it uses, and through which alone
it reaches torch). Modules, in the order a review runs: ``folds`` (how many, which photos),
``oof`` (a model per fold, probabilities for the photos it never saw), ``findings`` (pure
numpy: evidence per shape and region, then comparable scores), ``duplicates`` (pHash,
pairs, leaks), ``report`` (review.json), ``page`` (index.html from
``templates/index.html.j2``), ``labelme_copies`` (``--labelme``), and ``run`` (:func:`review`,
which ties them together). Importing this package imports nothing; import
:mod:`annotool.review.run` for :func:`~annotool.review.run.review`.
"""
