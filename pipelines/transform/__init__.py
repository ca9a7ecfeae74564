"""Transform: SQL models staging -> intermediate -> marts, run in dependency order with checks."""
