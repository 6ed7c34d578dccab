//! Join decisions (in progress).
