//! One module per kernel family: shapes checked, params struct, dispatch.
