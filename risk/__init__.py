"""Position sizing, stops and trading limits shared by both engines."""
