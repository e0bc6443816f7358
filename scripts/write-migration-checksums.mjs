// Part of `npm run build`: records, beside the compiled migrations and seed files, the checksum of
// each source the build compiled, so that `migrate` and `seed run` can tell a stale build by
// content, never by file times.
import { defaultMigratorOptions, writeBuildChecksums } from '../dist/src/services/migrations.service.js';
import { writeSeedBuildChecksums } from '../dist/src/services/seed-files.service.js';

writeBuildChecksums(defaultMigratorOptions());
writeSeedBuildChecksums();
