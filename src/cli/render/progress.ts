// A progress bar on stderr, only when stderr is a terminal (the caller decides).

import cliProgress from 'cli-progress';
import { Progress } from '../../core/reporter.js';
import { formatBytes } from './format.js';

export class ProgressRenderer {
  private bar: cliProgress.SingleBar | null = null;
  private phase = '';
  private readonly startedAtMs = performance.now();

  update(p: Progress): void {
    if (p.phase !== this.phase) {
      this.stop();
      this.phase = p.phase;
      this.bar = new cliProgress.SingleBar(
        {
          format: `${p.phase} [{bar}] {percentage}% | {value}/{total} files | {bytes} | {rate}`,
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(p.totalFiles ?? 0, 0, { bytes: '', rate: '' });
    }
    const seconds = Math.max((performance.now() - this.startedAtMs) / 1000, 0.001);
    if (p.totalFiles !== null) this.bar?.setTotal(p.totalFiles);
    this.bar?.update(p.doneFiles, {
      bytes: `${formatBytes(p.doneBytes)}${p.totalBytes !== null ? ` of ${formatBytes(p.totalBytes)}` : ''}`,
      rate: `${formatBytes(p.doneBytes / seconds)}/s`,
    });
  }

  clear(): void {
    // cli-progress redraws on its next update; nothing to do for a one-off line.
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
    this.phase = '';
  }
}
