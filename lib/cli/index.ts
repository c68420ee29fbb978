// The `raddino` command line: the main jobs of the library behind one binary.
//   raddino pretrain --config <json|yaml> --data <dir|list> --out <run dir> [--resume] [--init <weights>]
//   raddino pretrain --demo [--json]
// Errors are printed as one line (no stack) and exit with status 1; usage errors with status 2.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

function int(name: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min} (got ${JSON.stringify(v)})`);
    return n;
  };
}

export function buildProgram(): Command {
  const program = new Command('raddino')
    .description('Tensors, autograd and the DINOv2 / RAD-DINO chest X-ray encoder for Node.js')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('pretrain')
    .description('DINOv2/iBOT self-supervised pretraining (continual pretraining with --init), or the end-to-end --demo')
    .option('--config <file>', 'training configuration (JSON or YAML), merged over the preset')
    .option('--preset <name>', "configuration preset: 'default', 'tiny' or 'raddino'", 'default')
    .option('--data <path>', 'image folder (searched recursively) or a CSV/JSONL list of paths')
    .option('--out <dir>', 'run directory: config, metrics.jsonl, checkpoints')
    .option('--resume', 'continue the run in --out from its last checkpoint (bit-exact)')
    .option('--init <weights>', 'start the student backbone from these weights (safetensors, HF or dinov2 names); teacher = copy, heads fresh')
    .addOption(new Option('--steps <n>', 'stop after this many optimisation steps in total (default: epochs x epoch length)').argParser(int('--steps', 1)))
    .addOption(new Option('--threads <n>', 'CPU threads for the kernels').argParser(int('--threads', 1)))
    .addOption(new Option('--workers <n>', 'data-loading worker threads').argParser(int('--workers', 0)))
    .addOption(new Option('--device <d>', "where the model trains: 'cpu' (default) or 'cuda' (needs the CUDA backend, npm run build:cuda)"))
    .addOption(new Option('--precision <p>', "matmul precision of the training step (train.matmulPrecision): 'bfloat16' = mixed precision, about 2x faster on CPUs with AVX512-BF16")
      .choices(['float32', 'bfloat16']))
    .addOption(new Option('--checkpoint-every <n>', 'write a checkpoint every n steps (and at the end)').argParser(int('--checkpoint-every', 1)))
    .option('--demo', 'synthetic chest X-rays: pretrain a small ViT on CPU, then linear-probe it against random init')
    .addOption(new Option('--demo-steps <n>', 'pretraining steps of the demo (default 240: about 5 minutes on 2 cores)').argParser(int('--demo-steps', 20)))
    .addOption(new Option('--demo-minutes <m>', 'instead of --demo-steps, size the demo to this time budget').argParser((v: string) => {
      const m = Number(v);
      if (!(Number.isFinite(m) && m > 0)) throw new InvalidArgumentError(`--demo-minutes must be a positive number (got ${JSON.stringify(v)})`);
      return m;
    }).conflicts('demoSteps'))
    .option('--json', 'print one JSON object as the last line')
    .action(async (opts) => {
      if (opts.demo) {
        const { runDemo, printDemo } = await import('./demo.js');
        printDemo(await runDemo({
          out: opts.out, steps: opts.demoSteps, minutes: opts.demoMinutes, threads: opts.threads, workers: opts.workers, precision: opts.precision, device: opts.device,
        }), Boolean(opts.json));
        return;
      }
      for (const k of ['data', 'out'] as const) {
        if (!opts[k]) throw new InvalidArgumentError(`pretrain: --${k} is required (or use --demo)`);
      }
      const { runPretrainCommand } = await import('./pretrain.js');
      await runPretrainCommand({
        config: opts.config, preset: opts.preset, data: opts.data, out: opts.out, resume: Boolean(opts.resume), init: opts.init,
        steps: opts.steps, threads: opts.threads, workers: opts.workers, checkpointEvery: opts.checkpointEvery, json: Boolean(opts.json),
        precision: opts.precision, device: opts.device,
      });
    });

  return program;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; commander already printed its message
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      if (e instanceof InvalidArgumentError || e.code.startsWith('commander.')) {
        if (e.code === 'commander.invalidArgument' && !e.message.startsWith('error')) process.stderr.write(`raddino: ${e.message}\n`);
        return 2;
      }
    }
    process.stderr.write(`raddino: ${(e as Error).message}\n`);
    return 1;
  }
}
