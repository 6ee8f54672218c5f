"""Evaluation of stored embeddings: metrics, the field's frame protocol, the heads, runs, export.

- ``metrics``  clip, video, per-category and frame-level AUCs (pure)
- ``field``    the field's frame protocol: 16-frame blocks, bootstrap CIs, false-alarm rate
- ``linear``   fit_probe: the linear probe (standardised, class-balanced logistic regression)
- ``mil``      fit_mil: the weakly supervised MIL ranking head (Sultani et al. 2018)
- ``heads``    the head seam: ProbeHead, register_head, heads(), get_head(); linear and MIL
- ``probe``    run_probe (any registered head: metrics.json + scores), the tables comparing heads
- ``export``   export_features: per-video block features, lists and frame labels for the field's
               training code (``python -m ucf_nb.evaluate.export``, or ``python -m ucf_nb export``)
- ``runs``     one folder per encoder run (processed/runs/<name>/), runs compared side by side
- ``_frames``  internal: the frame axis (clip scores spread on frames, their ground truth) that
               ``metrics`` and ``field`` both build on

Nothing here reads videos or models: only the store's embeddings and the annotation.
"""
