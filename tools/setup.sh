#!/usr/bin/env bash
# Set up a fresh Debian machine (no torch) to run meetflow and its tests.
#
# 1. Debian packages: espeak-ng + libespeak-ng1 (test speech with exact word times through the
#    library; pronunciations of new words for the hybrid first pass), libsndfile1 (audio files),
#    libportaudio2 + PulseAudio (live capture through a real audio server, which the
#    live tests start themselves), chromium (the web view's tests drive it headless).
# 2. torch 2.13.0 (CPU) FIRST: an unpinned torch requirement resolved by pip pulls the
#    newest CUDA build (GBs); with 2.13.0 installed, silero-vad's torch range is satisfied.
# 3. meetflow itself, editable, with every extra the default graphs and the tests need.
#
# Uses the current python (activate a virtualenv first if you want one). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PY="${PYTHON:-python3}"

echo "==> Debian packages"
$SUDO apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  espeak-ng libespeak-ng1 libsndfile1 libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins chromium

echo "==> torch 2.13.0 (CPU)"
"$PY" -m pip install -q torch==2.13.0

echo "==> meetflow[all,test]"
"$PY" -m pip install -q -e '.[all,test]'
# The GE2E speaker encoder's weights (17 MB) ship in resemblyzer; its declared dependencies are
# broken (webrtcvad 2.0.10 fails to import) and unneeded: meetflow runs the network itself.
"$PY" -m pip install -q --no-deps resemblyzer==0.1.4

"$PY" -c "import pipeline, nodes; print('meetflow is installed')"
