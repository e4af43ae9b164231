"""Dynamic textures (section 4.1.5): spatio-temporal networks and clips cut from a video."""

from genzoo import hookimpl
from genzoo_video.clips import video_clips
from genzoo_video.nets import build_video3d


@hookimpl
def register_architectures(register):
    register("video3d", build_video3d)


@hookimpl
def register_datasets(register):
    register("video_clips", video_clips)
