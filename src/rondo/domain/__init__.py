"""Rondo's entities, status vocabularies, state transitions and naming. Pure: no I/O."""
