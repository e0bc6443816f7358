/** The only module that imports the prompt library (loaded only when a prompt is needed). */
import { InterruptedError } from '../errors.js';

/** Ctrl-C or a closed terminal at a prompt. */
function closedPrompt(error: unknown): boolean {
  return error instanceof Error && /force closed|ExitPromptError|aborted/i.test(`${error.name} ${error.message}`);
}

export async function confirm(message: string): Promise<boolean> {
  const { confirm: ask } = await import('@inquirer/prompts');
  try {
    return await ask({ message, default: false }, { output: process.stderr });
  } catch (error) {
    // Ctrl-C or a closed terminal at the prompt is a "no".
    if (closedPrompt(error)) return false;
    throw error;
  }
}

/** Asks for a tracking number, validating as the user types. */
export async function askTrackingNumber(validate: (value: string) => true | string): Promise<string> {
  const { input } = await import('@inquirer/prompts');
  try {
    return await input({ message: 'Tracking number:', validate }, { output: process.stderr });
  } catch (error) {
    // Ctrl-C at the prompt is an interruption like any other (exit 130), not a failure.
    if (closedPrompt(error)) throw new InterruptedError('interrupted at the prompt: nothing was looked up', { cause: error });
    throw error;
  }
}
