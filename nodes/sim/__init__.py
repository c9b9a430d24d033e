"""Simulation: synthetic speech with known text (espeak-ng) and simulated meetings in rooms (pyroomacoustics).

Library code, not nodes: ``scenario.generate`` draws a meeting from a seed, ``meeting.render``
simulates its array recording and ``meeting.write_outputs`` writes it with its references
(``meetflow simulate`` is the command-line front end).
"""
