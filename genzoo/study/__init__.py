"""Studies: a base recipe, variants, seeds, a budget (iterations or matched compute), an
evaluation and claims; ``genzoo study`` trains and tests them, ``genzoo tune`` searches each
variant's hyperparameters with Optuna first. Coordinated through Optuna's storages, so workers
on many machines share one study."""
