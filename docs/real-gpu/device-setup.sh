# Device call 1 (carry .dev/a): unpack Chromium's headless shell into /tmp/n.
mkdir -p /tmp/n/chr && xz -dc .dev/a/chs.xz > /tmp/n/chr/chromium-headless-shell && chmod +x /tmp/n/chr/chromium-headless-shell
nvidia-smi -L
