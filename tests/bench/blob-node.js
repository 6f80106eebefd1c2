// One upload with Microsoft's JavaScript SDK (@azure/storage-blob, BlockBlobClient.uploadFile),
// for tests/bench/blob.py. Prints {"seconds": …} for the upload call alone.
//
//   node tests/bench/blob-node.js <file> <blob URL with SAS> <concurrency>
'use strict';
const { BlockBlobClient } = require('@azure/storage-blob');

async function main() {
  const [file, url, concurrency] = process.argv.slice(2);
  const client = new BlockBlobClient(url);
  const t0 = process.hrtime.bigint();
  await client.uploadFile(file, { concurrency: Number(concurrency) });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(JSON.stringify({ seconds }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
