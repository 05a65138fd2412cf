"""Network definitions. One module per genuinely distinct family; the registry in
:mod:`vsrife.registry` says which checkpoint goes with which definition."""
