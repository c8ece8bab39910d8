/* A static C "hello world": the cheapest program start on this machine, for reference. */
#include <stdio.h>

int main(void) {
    puts("hello");
    return 0;
}
