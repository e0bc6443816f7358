// Part of `npm run build`: records, beside the compiled migrations, the checksum of each source
// the build compiled, so that `migrate` can tell a stale build by content, never by file times.
import { defaultMigratorOptions, writeBuildChecksums } from '../dist/src/services/migrations.service.js';

writeBuildChecksums(defaultMigratorOptions());
