"""Speech activity: voice activity detection and segmentation."""
