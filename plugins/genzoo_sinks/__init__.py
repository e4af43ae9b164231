"""Built-in sinks of the training events (genzoo.hookspecs, ``on_*``): ``metrics_log``
(metrics.jsonl), ``grids`` (sample grids) and ``tensorboard``. Each module is a plugin of its
own, named in the ``genzoo`` entry-point group exactly as a third party's sink would be."""
