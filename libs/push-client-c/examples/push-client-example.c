/*
 * A small C app on the push daemon: sets its application id, registers, prints one JSON line per
 * event (the same lines as the TypeScript example) and quits on clientInactive when it was started
 * by the launcher (BOREALIS_PUSH_LAUNCHED=1), or on SIGTERM/SIGINT.
 *
 *   push-client-example APPLICATION_ID [SOCKET_PATH]
 */
#include <pushclient.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static int launched;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

/* Prints a JSON string (the library hands over UTF-8; control characters are escaped). */
static void print_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') printf("\\%c", ch);
    else if (ch < 0x20) printf("\\u%04x", ch);
    else putchar(ch);
  }
  putchar('"');
}

static void on_ready(push_client *client, bool ready, void *user_data) {
  (void)client;
  (void)user_data;
  printf("{\"event\":\"pushSystemReadinessChanged\",\"ready\":%s}\n", ready ? "true" : "false");
  fflush(stdout);
}

static void on_registration_id(push_client *client, const char *registration_id, void *user_data) {
  (void)client;
  (void)user_data;
  printf("{\"event\":\"registrationId\",\"registrationId\":");
  print_string(registration_id);
  printf("}\n");
  fflush(stdout);
}

static void on_registration_error(push_client *client, const char *code, const char *message, void *user_data) {
  (void)user_data;
  printf("{\"event\":\"registrationError\",\"code\":");
  print_string(code);
  printf(",\"message\":");
  print_string(message);
  printf(",\"error\":");
  print_string(push_client_error(client) ? push_client_error(client) : "");
  printf("}\n");
  fflush(stdout);
}

static void on_notifications(push_client *client, const push_notification *list, size_t count, void *user_data) {
  size_t i;
  (void)client;
  (void)user_data;
  printf("{\"event\":\"notifications\",\"pushList\":[");
  for (i = 0; i < count; i++) {
    printf("%s{\"id\":", i ? "," : "");
    print_string(list[i].id);
    printf(",\"applicationId\":");
    print_string(list[i].application_id);
    printf(",\"title\":");
    print_string(list[i].title);
    printf(",\"message\":");
    print_string(list[i].message);
    printf(",\"data\":");
    print_string(list[i].data);
    printf(",\"expiresAtMs\":%lld}", (long long)list[i].expires_at_ms);
  }
  printf("]}\n");
  fflush(stdout);
}

static void on_inactive(push_client *client, void *user_data) {
  (void)client;
  (void)user_data;
  printf("{\"event\":\"clientInactive\"}\n");
  fflush(stdout);
  if (launched) stop = 1;
}

int main(int argc, char **argv) {
  push_client_callbacks callbacks = {on_ready, on_registration_id, on_registration_error, on_notifications, on_inactive};
  push_client *client;
  const char *launched_env = getenv("BOREALIS_PUSH_LAUNCHED");
  struct sigaction sa;
  if (argc < 2) {
    fprintf(stderr, "usage: %s APPLICATION_ID [SOCKET_PATH]\n", argv[0]);
    return 2;
  }
  launched = launched_env && strcmp(launched_env, "1") == 0;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  client = push_client_new(argc > 2 ? argv[2] : NULL, &callbacks, NULL);
  if (!client) {
    perror("push_client_new");
    return 1;
  }
  if (push_client_set_application_id(client, argv[1]) != 0) {
    fprintf(stderr, "invalid application id\n");
    push_client_free(client);
    return 2;
  }
  printf("{\"event\":\"started\",\"applicationId\":");
  print_string(push_client_application_id(client));
  printf(",\"launched\":%s,\"uid\":%u}\n", launched ? "true" : "false", (unsigned)getuid());
  fflush(stdout);
  push_client_registrate(client);
  while (!stop) {
    if (push_client_dispatch(client, 200) != 0) {
      perror("push_client_dispatch");
      break;
    }
  }
  push_client_free(client);
  return 0;
}
