import type { RunOutcome } from '../checks/store';

// Duplicati's HTTP report in JSON (`--send-http-json-urls`, or `--send-http-url` with
// `--send-http-result-output-format=Json`): Duplicati/Library/Modules/Builtin/ResultFormatSerializers/
// JsonFormatSerializer.cs, shared/REFERENCE-INTEGRATIONS.md §8:
//   { "Data": { MainOperation, ParsedResult, BeginTime, EndTime, Duration, sizes, counts,
//               BackendStatistics: { BytesUploaded, … } },
//     "Extra": { "backup-name", "OperationName", … }, "LogLines": [ … ], "Exception": "…" | null }
// Every field is read defensively: a newer Duplicati may add or drop any of them.

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined);
const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** .NET TimeSpan text ("00:01:02.3456789", "1.02:03:04.5") → ms; null when it does not read as one. */
export function parseTimeSpan(text: string): number | null {
  const m = /^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$/.exec(text.trim());
  if (!m || m[1]) return null;
  const [, , days = '0', h, min, s, frac = ''] = m;
  return ((Number(days) * 24 + Number(h)) * 60 + Number(min)) * 60_000 + Number(s) * 1000 + Math.round(Number(`0.${frac || '0'}`) * 1000);
}

/** Duplicati's result → the run's status (Success/Warning/Error/Fatal; Unknown counts as a failure). */
export function duplicatiStatus(parsedResult: string | undefined, exception: unknown): 'success' | 'warning' | 'failure' {
  if (parsedResult === 'Success' && !exception) return 'success';
  if (parsedResult === 'Warning' && !exception) return 'warning';
  return 'failure';
}

export type DuplicatiReading = { outcome: RunOutcome; operation: string } | { refusal: string };

/**
 * A JSON report → the run it tells of. Only the Backup operation is a run of the check (Duplicati
 * reports only backups unless `--send-http-any-operation` is set): the caller ignores others.
 * `now` caps the tool's times, which come from another host's clock.
 */
export function duplicatiReport(body: unknown, now: number): DuplicatiReading {
  const report = obj(body);
  const data = obj(report?.Data);
  if (!report || !data) return { refusal: 'expected a Duplicati JSON report ({"Data": {...}}): use --send-http-json-urls, or --send-http-result-output-format=Json' };
  const extra = obj(report.Extra) ?? {};
  const operation = str(data.MainOperation) ?? str(extra.OperationName) ?? 'Backup';
  const exception = str(report.Exception) ?? null;
  const status = duplicatiStatus(str(data.ParsedResult), exception);
  const begin = Date.parse(str(data.BeginTime) ?? '');
  const end = Date.parse(str(data.EndTime) ?? '');
  const span = parseTimeSpan(str(data.Duration) ?? '');
  const durationMs = span ?? (Number.isFinite(begin) && Number.isFinite(end) && end >= begin ? end - begin : undefined);
  const backend = obj(data.BackendStatistics) ?? {};
  const uploaded = count(backend.BytesUploaded);
  const added = (count(data.SizeOfAddedFiles) ?? 0) + (count(data.SizeOfModifiedFiles) ?? 0);
  const lines = Array.isArray(report.LogLines) ? report.LogLines.filter((l): l is string => typeof l === 'string') : [];
  const name = str(extra['backup-name']);
  const errors = count(data.ErrorsActualLength);
  const warnings = count(data.WarningsActualLength);
  const summary =
    `Duplicati ${operation}${name ? ` "${name}"` : ''}: ${str(data.ParsedResult) ?? 'Unknown'}` +
    `${data.Interrupted === true ? ' (interrupted)' : ''}${data.PartialBackup === true ? ' (partial backup)' : ''}` +
    `${errors ? `, ${errors} error(s)` : ''}${warnings ? `, ${warnings} warning(s)` : ''}`;
  const firstError = lines.find((l) => /\[(Error|Fatal)/i.test(l)) ?? exception?.split('\n')[0];
  return {
    operation,
    outcome: {
      status,
      exitCode: null,
      log: [summary, ...lines, ...(exception ? [exception] : [])].join('\n'),
      ...(status === 'failure' ? { error: `${summary}${firstError ? `: ${firstError}` : ''}` } : {}),
      ...(durationMs !== undefined ? { durationMs, startedAt: Math.min(now - durationMs, Number.isFinite(begin) ? begin : Infinity) } : {}),
      ...(uploaded !== undefined || added > 0 ? { bytesAdded: uploaded ?? added } : {}),
      ...(count(data.SizeOfExaminedFiles) !== undefined ? { bytesTotal: count(data.SizeOfExaminedFiles) } : {}),
      ...(count(data.ExaminedFiles) !== undefined ? { files: count(data.ExaminedFiles) } : {}),
    },
  };
}
