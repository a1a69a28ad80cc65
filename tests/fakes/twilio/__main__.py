from tests.fakes.twilio import main

main()
