"""One upload with Microsoft's Python SDK (azure-storage-blob, BlobClient.upload_blob with
max_concurrency), for tests/bench/blob.py. Prints {"seconds": ...} for the upload call alone.

    python blob-python.py <file> <blob URL with SAS> <concurrency>
"""
import json
import sys
import time

from azure.storage.blob import BlobClient


def main():
    path, url, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = BlobClient.from_blob_url(url)
    with open(path, "rb") as f:
        t0 = time.perf_counter()
        client.upload_blob(f, overwrite=True, max_concurrency=concurrency)
        seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    main()
