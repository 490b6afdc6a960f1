// Preloaded (node --import) into every process the CLI test starts, including a relaunched one: appends this
// process's view of the tunable and of the relaunch guard to the file named by NPZ_TEST_ENV_RECORD.
import { appendFileSync } from 'node:fs';

const file = process.env.NPZ_TEST_ENV_RECORD;
if (file) {
  const tunables = process.env.GLIBC_TUNABLES ?? '-';
  const guard = process.env.NPZ_STREAM_HUGETLB_RELAUNCHED ?? '-';
  appendFileSync(file, `${process.pid} ${tunables} ${guard}\n`);
}
