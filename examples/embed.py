"""Embedding Retail Pulse in a Python program: no HTTP, same rules.

Run: .venv/bin/python examples/embed.py
"""

import retailpulse
from retailpulse.testing import ImageServer, sample_routes

# A local image server on 127.0.0.1, and the service with loopback downloads allowed
# (refused by default).
with (
    ImageServer(sample_routes()) as images,
    retailpulse.start(gpu_slots=8, allow_private_urls=True) as service,
):
    job_id = service.submit(
        {
            "count": 2,
            "visits": [
                {
                    "store_id": "S00339218",
                    "image_url": [images.url("/webp/gallery/2.jpg")],
                    "visit_time": "2026-11-29T09:30:00+05:30",
                },
                {
                    "store_id": "S01408764",
                    "image_url": [images.url("/webp/gallery/3.jpg")],
                    "visit_time": "2026-11-29T10:00:00+05:30",
                },
            ],
        }
    )
    final = service.wait(job_id, timeout=30)
    print(f"job {job_id}: {final['status']}")
    for image in service.results(job_id)["images"]:
        print(
            f"  {image['store_id']}  {image['width']}x{image['height']}  "
            f"perimeter={image['perimeter']}"
        )
