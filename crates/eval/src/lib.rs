//! Classification and regression metrics: plain slices in, plain numbers out; independent of the tape (issue: eval).
