// The delivery the transport benchmarks write: the ids and sizes of a real one.

/** A typical notification: a uuidv7 message id, a 48-character registrationId per device; `n` numbers the message. */
export function sampleNotification(deviceId, n, expiresAtMs = Date.now() + 3_600_000) {
  return {
    kind: 'deliver',
    messageId: `01936f5e-7c1a-7b3e-9a4f-${String(n).padStart(12, '0')}`,
    deviceId,
    applicationId: 'ru.example.newsreader',
    registrationId: `r1_${deviceId}`.padEnd(48, 'x'),
    title: 'Breaking news',
    message: 'A short message body of the length most pushes have, about a hundred characters of text here.',
    data: '{"articleId":"a-18734","section":"world"}',
    sentAtMs: 1_767_225_600_123,
    expiresAtMs,
  };
}
